"""Pure ASGI middleware: trace context, transaction id, API-Version and security headers, access log."""

from __future__ import annotations

import json
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lmx_common.logging import client_id_var, trace_id_var, transaction_id_var, write_access_line
from lmx_common.problems import problem_body
from lmx_common.tracing import TRANSACTION_HEADER, child_of, transaction_id

problems_logger = logging.getLogger("lmx.problems")

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
    (b"strict-transport-security", b"max-age=31536000"),
)
_TRANSACTION = TRANSACTION_HEADER.encode()


class RequestContextMiddleware:
    """Runs around every request of every component.

    Gives the request a transaction id and a span in the caller's trace (both echoed in the
    response and in every log line), adds the API-Version and security headers to every response
    where the handler did not set them, and writes one access-log line without the query string.
    """

    def __init__(self, app: ASGIApp, api_version: str) -> None:
        self.app = app
        self.api_version = api_version.encode()
        # Added where the handler did not set them; the first three are per request.
        self._fixed = ((b"api-version", self.api_version), *SECURITY_HEADERS)
        self._names = frozenset({_TRANSACTION, b"traceparent"} | {name for name, _ in self._fixed})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming_trace = incoming_txn = None
        for key, value in scope["headers"]:  # the first of each, as sent
            if key == b"traceparent":
                if incoming_trace is None:
                    incoming_trace = value.decode("latin-1")
            elif key == _TRANSACTION and incoming_txn is None:
                incoming_txn = value.decode("latin-1")
        trace = child_of(incoming_trace)
        txn = transaction_id(incoming_txn)
        state = scope.setdefault("state", {})
        state["trace"] = trace
        state["transaction_id"] = txn
        tokens = (transaction_id_var.set(txn), trace_id_var.set(trace.trace_id), client_id_var.set(None))
        status = 500
        per_request = ((_TRANSACTION, txn.encode()), (b"traceparent", trace.traceparent.encode()))
        fixed, names = self._fixed, self._names
        started_response = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                headers = list(message.get("headers", ()))
                present = {key.lower() for key, _ in headers}
                if present.isdisjoint(names):
                    headers += per_request
                    headers += fixed
                else:
                    headers += [(k, v) for k, v in (*per_request, *fixed) if k not in present]
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
            write_access_line(
                {
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "durationMs": round((time.perf_counter() - started) * 1000, 2),
                    "clientId": state.get("client_id"),
                }
            )
            transaction_id_var.reset(tokens[0])
            trace_id_var.reset(tokens[1])
            client_id_var.reset(tokens[2])
