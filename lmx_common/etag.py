"""ETag and If-Match: one policy for every resource (RFC 9110 sections 8.8.3 and 13.1.1).

- The tag is the resource's version, strong and quoted: ``ETag: "3"``. The URL names the resource,
  so the tag needs no id.
- An update of a resource's representation (PUT, PATCH) requires If-Match: without it the answer
  is 428 (``precondition-required``), so no client overwrites a change it has not seen.
  A POST that appends to a resource's history (a status change, a note) honours If-Match when
  sent and goes ahead without it (``required=False``).
- ``If-Match: *`` matches any current representation, so it passes whenever the resource exists.
- If-Match uses the strong comparison: a weak tag (``W/"3"``) never matches, so it fails with 412,
  as does a tag of an older version. A list of tags matches when one of them does.
- A 412 carries the current ETag, so the client knows what to read.
"""

from __future__ import annotations

from lmx_common.problems import precondition_failed, precondition_required


def etag(version: int) -> str:
    """The strong ETag of a resource at ``version``."""
    return f'"{version}"'


def if_match_passes(if_match: str, current: str) -> bool:
    """RFC 9110 If-Match evaluation against the current strong tag (``*`` or a strong match)."""
    tags = [tag.strip() for tag in if_match.split(",")]
    return "*" in tags or any(tag == current and not tag.startswith("W/") for tag in tags)


def check_if_match(if_match: str | None, version: int, *, required: bool = True, what: str = "resource") -> None:
    """Raise 428 (missing and required) or 412 (no match) under the policy above."""
    if if_match is None or not if_match.strip():
        if required:
            raise precondition_required(what)
        return
    current = etag(version)
    if not if_match_passes(if_match, current):
        raise precondition_failed(current, what)


# A route whose answers carry its resource's ETag says so in its OpenAPI (``openapi_extra=SETS_ETAG``, or
# merged into its other extras): the post-processing in lmx_common/app.py declares the header and drops the key.
SETS_ETAG_KEY = "x-lmx-sets-etag"
SETS_ETAG: dict[str, bool] = {SETS_ETAG_KEY: True}
