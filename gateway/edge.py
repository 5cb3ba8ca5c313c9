"""The first checks of every request: the length of the request target and the size of the headers.

Pure ASGI, inside RequestContextMiddleware (so the refusals carry the standard headers) and before
the proxy and the gateway's own routes: an oversized request is refused before any token work,
and never forwarded. The HTTP server has read the whole head by then (httptools sets no limit of
its own; see ADR 0022), so this bounds what the gateway does with it, not what it reads.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from lmx_common.problems import problem_body

# The gateway's own problem types, beside the shared catalogue (lmx_common.problems.PROBLEM_TYPES, which
# has request-header-fields-too-large: the services answer it too); /problems lists both, these winning.
# slug -> (title, description).
GATEWAY_PROBLEM_TYPES: dict[str, tuple[str, str]] = {
    "uri-too-long": ("URI too long", "The gateway refused the request: its path and query are longer than it accepts."),
    "gateway-upstream-unavailable": (
        "Upstream service unavailable",
        "The gateway answered: it could not connect to the upstream service within the connect timeout, no "
        "connection to it came free within the queue timeout, or it stopped calling the service for a while "
        "after repeated failures (circuit open). Retry after the seconds in Retry-After.",
    ),
}


async def send_problem(
    send: Send, status: int, detail: str, instance: str, slug: str | None = None, headers: dict[str, str] | None = None
) -> None:
    title = GATEWAY_PROBLEM_TYPES[slug][0] if slug in GATEWAY_PROBLEM_TYPES else None
    body = json.dumps(problem_body(status, detail, instance, slug, title), separators=(",", ":")).encode()
    raw = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class EdgeLimits:
    """Refuses a target over `max_url_bytes` (414), headers over `max_header_bytes` or `max_header_count` (431)."""

    def __init__(self, app: ASGIApp, max_url_bytes: int, max_header_bytes: int, max_header_count: int) -> None:
        self.app = app
        self.max_url_bytes = max_url_bytes
        self.max_header_bytes = max_header_bytes
        self.max_header_count = max_header_count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope["headers"]
            if len(scope.get("raw_path") or scope["path"]) + len(scope["query_string"]) > self.max_url_bytes:
                await send_problem(
                    send,
                    414,
                    f"The path and query exceed {self.max_url_bytes} bytes.",
                    scope["path"][:200],
                    "uri-too-long",
                )
                return
            if len(headers) > self.max_header_count:
                await send_problem(
                    send,
                    431,
                    f"More than {self.max_header_count} request headers.",
                    scope["path"],
                    "request-header-fields-too-large",
                )
                return
            size = 0
            for name, value in headers:
                size += len(name) + len(value)
            if size > self.max_header_bytes:
                await send_problem(
                    send,
                    431,
                    f"The request headers exceed {self.max_header_bytes} bytes.",
                    scope["path"],
                    "request-header-fields-too-large",
                )
                return
        await self.app(scope, receive, send)
