"""Cursor (keyset) pagination: opaque, signed cursors, `next` links and typed pages.

A cursor is ``base64url(JSON position) "." base64url(HMAC-SHA256(key, position)[:16])``: a caller
cannot forge a position (the docs promise 400 for a cursor this API did not return). The key is
the service's ``<PREFIX>_CURSOR_KEY``; the request-context middleware makes it current for the
request (:func:`cursor_key_var`), so :func:`encode_cursor` and :func:`decode_cursor` need no
request.

A list endpoint reads ``page_size + 1`` rows after the cursor's position and hands them to
:func:`cut_page`, which keeps ``page_size`` of them and links the next page when the extra row
came back. Its response model is a subclass of ``Page[ItemRead]`` (one per item type, so the
OpenAPI names it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Annotated, Any, Generic, TypeVar, overload

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from lmx_common.problems import InvalidParam, invalid_input
from lmx_common.schemas import examples

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
# The query parameters of every paged list, described once.
PageSizeQuery = Annotated[
    int,
    Query(description="How many items per page (at most the maximum shown).", alias="pageSize", ge=1, le=MAX_PAGE_SIZE),
]
CursorQuery = Annotated[
    str | None, Query(description="Where the page starts (from the previous page's next link); absent: the first.")
]


class Link(BaseModel):
    href: str


class PageLinks(BaseModel):
    self_: Link = Field(alias="self")
    next: Link | None = None

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra=examples(
            {
                "self": {"href": "/housing/v1/housing-locations?pageSize=50"},
                "next": {
                    "href": "/housing/v1/housing-locations?pageSize=50&cursor=eyJwIjoxMDQyfQ.zotDswMmdS-LY5sDzxr1JA"
                },
            }
        ),
    )


class Page(BaseModel, Generic[T]):
    """A page of results; follow `_links.next.href` until it is absent."""

    items: list[T]
    links: PageLinks = Field(alias="_links")

    model_config = {"populate_by_name": True}


# A next-page cursor as the API hands them out (the form only: not signed with any key in use).
EXAMPLE_CURSOR = "eyJwIjoxMDQyfQ.zotDswMmdS-LY5sDzxr1JA"


def page_example(path: str, *items: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI example of a page of ``items`` at ``path`` (through the gateway), with a next link."""
    return {
        "items": list(items),
        "_links": {
            "self": {"href": f"{path}?pageSize={len(items)}"},
            "next": {"href": f"{path}?pageSize={len(items)}&cursor={EXAMPLE_CURSOR}"},
        },
    }


DEVELOPMENT_CURSOR_KEY = b"development-only-cursor-key"
# The signing key of the request being served (set by RequestContextMiddleware from the settings).
cursor_key_var: ContextVar[bytes] = ContextVar("cursor_key", default=DEVELOPMENT_CURSOR_KEY)
_MAC_BYTES = 16


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))


def _mac(payload: str, key: bytes | None) -> bytes:
    return hmac.new(key or cursor_key_var.get(), payload.encode("ascii"), hashlib.sha256).digest()[:_MAC_BYTES]


def encode_cursor(position: dict[str, Any], key: bytes | None = None) -> str:
    payload = _b64(json.dumps(position, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_b64(_mac(payload, key))}"


def decode_cursor(cursor: str, keys: set[str], name: str = "cursor", key: bytes | None = None) -> dict[str, Any]:
    """Decode a cursor made by :func:`encode_cursor`; a tampered, forged or foreign one is a 400."""
    forged = invalid_input([InvalidParam(name, "Not a cursor returned by this API.", "cursor", "query")])
    payload, _, mac = cursor.partition(".")
    try:
        if not hmac.compare_digest(_unb64(mac), _mac(payload, key)):
            raise forged
        value = json.loads(_unb64(payload))
    except (binascii.Error, ValueError, UnicodeError) as exc:
        raise forged from exc
    if not isinstance(value, dict) or set(value) != keys:
        raise forged
    return value


def page_links(request: Request, next_cursor: str | None, prefix: str = "") -> PageLinks:
    """Links relative to the API root, so they stay right behind the gateway.

    ``prefix`` is prepended to the request path (the gateway forwards X-Forwarded-Prefix).
    """
    forwarded_prefix = request.headers.get("x-forwarded-prefix", "")
    path = (prefix or forwarded_prefix) + request.url.path
    self_href = path + (f"?{request.url.query}" if request.url.query else "")
    next_link = None
    if next_cursor is not None:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
        params.append(("cursor", next_cursor))
        query = "&".join(f"{k}={_quote(v)}" for k, v in params)
        next_link = Link(href=f"{path}?{query}")
    return PageLinks(self_=Link(href=self_href), next=next_link)


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


K = TypeVar("K", str, int)


@overload
def cursor_value(cursor: str | None, key: str, kind: type[str] = str, name: str = "cursor") -> str | None: ...
@overload
def cursor_value(cursor: str | None, key: str, kind: type[int], name: str = "cursor") -> int | None: ...
def cursor_value(cursor: str | None, key: str, kind: type[K] = str, name: str = "cursor") -> K | None:  # type: ignore[assignment]
    """The one-key position a cursor made by :func:`cut_page` carries; None for the first page.

    A cursor whose position is not of ``kind`` was not made by this API (forged): a 400, never a 500.
    """
    if not cursor:
        return None
    value = decode_cursor(cursor, {key}, name)[key]
    if type(value) is not kind:
        raise invalid_input([InvalidParam(name, "Not a cursor returned by this API.", "cursor", "query")])
    return value


def links_after(request: Request, page: Sequence[R], more: bool, position: Callable[[R], dict[str, Any]]) -> PageLinks:
    """The links of a page cut already (by the service layer, which logs just the rows shown)."""
    return page_links(request, encode_cursor(position(page[-1])) if more and page else None)


def cut_page(
    request: Request, rows: Sequence[R], page_size: int, position: Callable[[R], dict[str, Any]]
) -> tuple[list[R], PageLinks]:
    """Rows read with limit ``page_size + 1``: the page's rows and its links, with ``next`` when more wait.

    ``position(row)`` is the keyset position of a row (e.g. ``{"id": row.id}``); the next page starts
    after the last row shown.
    """
    page = list(rows[:page_size])
    return page, links_after(request, page, len(rows) > page_size, position)
