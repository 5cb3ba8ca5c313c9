"""Pure ASGI middleware: trace context, transaction id, API-Version and security headers, access log."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lmx_common.logging import client_id_var, trace_id_var, transaction_id_var
from lmx_common.problems import problem_body
from lmx_common.tracing import TRANSACTION_HEADER, child_of, transaction_id

access_logger = logging.getLogger("lmx.access")
problems_logger = logging.getLogger("lmx.problems")

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
    (b"strict-transport-security", b"max-age=31536000"),
)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _set_default(headers: list[tuple[bytes, bytes]], defaults: Iterable[tuple[bytes, bytes]]) -> None:
    present = {key.lower() for key, _ in headers}
    for key, value in defaults:
        if key not in present:
            headers.append((key, value))


class RequestContextMiddleware:
    """Runs around every request of every component.

    Gives the request a transaction id and a span in the caller's trace (both echoed in the
    response and in every log line), adds the API-Version and security headers to every response
    where the handler did not set them, and writes one access-log line without the query string.
    """

    def __init__(self, app: ASGIApp, api_version: str) -> None:
        self.app = app
        self.api_version = api_version.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        trace = child_of(_header(scope, b"traceparent"))
        txn = transaction_id(_header(scope, TRANSACTION_HEADER.encode()))
        state = scope.setdefault("state", {})
        state["trace"] = trace
        state["transaction_id"] = txn
        tokens = (transaction_id_var.set(txn), trace_id_var.set(trace.trace_id), client_id_var.set(None))
        status = 500
        extra_headers = (
            (b"api-version", self.api_version),
            (TRANSACTION_HEADER.encode(), txn.encode()),
            (b"traceparent", trace.traceparent.encode()),
            *SECURITY_HEADERS,
        )

        started_response = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                headers = list(message.get("headers", []))
                _set_default(headers, extra_headers)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            # Answer here rather than in Starlette's outermost error middleware, so that even an
            # unexpected error carries the API-Version, security and trace headers.
            problems_logger.error("unhandled error", extra={"path": scope["path"]}, exc_info=exc)
            if started_response:
                raise
            body = json.dumps(problem_body(500, "An unexpected error occurred.", scope["path"], "internal-error"))
            await send_wrapper({"type": "http.response.start", "status": 500, "headers": [
                (b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]})
            await send_wrapper({"type": "http.response.body", "body": body.encode()})
        finally:
            client_id = state.get("client_id")
            access_logger.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "durationMs": round((time.perf_counter() - started) * 1000, 2),
                    "clientId": client_id,
                },
            )
            transaction_id_var.reset(tokens[0])
            trace_id_var.reset(tokens[1])
            client_id_var.reset(tokens[2])
