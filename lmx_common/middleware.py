"""Pure ASGI middleware: trace context, transaction id, API-Version and security headers, access log,
header limits; HEAD served wherever GET is."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lmx_common import metrics, telemetry
from lmx_common.logging import client_id_var, span_id_var, trace_id_var, transaction_id_var, write_access_line
from lmx_common.pagination import cursor_key_var
from lmx_common.problems import problem_body, public_path
from lmx_common.tracing import TRANSACTION_HEADER, child_of, trace_context_var, transaction_id

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
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


def route_template(scope: Scope) -> str:
    """The template of the route that served the request (``/v1/registrations/{registration_id}``), for
    metrics and span names: the gateway's proxy sets ``state["route"]``, FastAPI's router ``route``.
    Never the raw path (ids in it); a request no route matched is ``metrics.UNMATCHED``."""
    proxied = scope.get("state", {}).get("route")
    if proxied is not None:
        return str(proxied)
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not template:
        return metrics.UNMATCHED
    return str(scope.get("root_path", "")) + str(template)


class RequestContextMiddleware:
    """Runs around every request of every component.

    Gives the request a transaction id and a span in the caller's trace (both echoed in the
    response and in every log line; an exported SERVER span when tracing is on, lmx_common/telemetry.py),
    counts it and its duration by route template (lmx_common/metrics.py), adds the API-Version and
    security headers to every response where the handler did not set them, and writes one access-log
    line without the query string.

    With limits (the services), a request with more than ``max_header_count`` headers, or names and
    values over ``max_header_bytes``, is answered 431 here; ``cursor_key`` signs the request's cursors.
    """

    def __init__(
        self,
        app: ASGIApp,
        api_version: str,
        max_header_bytes: int | None = None,
        max_header_count: int | None = None,
        cursor_key: str | None = None,
        component: str = "unknown",
    ) -> None:
        self.app = app
        self.component = component
        # (method, route, status) -> the counter's and the histogram's series: labels() costs more per
        # request than the update itself. Bounded by the routes' templates, methods and statuses.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.api_version = api_version.encode()
        self.max_header_bytes = max_header_bytes
        self.max_header_count = max_header_count
        self.cursor_key = cursor_key.encode() if cursor_key else None
        # Added where the handler did not set them; the first three are per request.
        self._fixed = ((b"api-version", self.api_version), *SECURITY_HEADERS)
        self._names = frozenset({_TRANSACTION, b"traceparent"} | {name for name, _ in self._fixed})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming_trace = incoming_txn = incoming_state = None
        header_bytes = 0
        for key, value in scope["headers"]:  # the first of each, as sent (tracestate: all, joined)
            header_bytes += len(key) + len(value)
            if key == b"traceparent":
                if incoming_trace is None:
                    incoming_trace = value.decode("latin-1")
            elif key == _TRANSACTION:
                if incoming_txn is None:
                    incoming_txn = value.decode("latin-1")
            elif key == b"tracestate":
                text = value.decode("latin-1")
                incoming_state = text if incoming_state is None else incoming_state + "," + text
        tracer = telemetry.TRACER
        span = otel_token = None
        if tracer is None:
            trace = child_of(incoming_trace, incoming_state)
        else:
            span, trace, otel_token = telemetry.start_server_span(
                tracer, scope["method"], incoming_trace, incoming_state
            )
        txn = transaction_id(incoming_txn)
        state = scope.setdefault("state", {})
        state["trace"] = trace
        state["transaction_id"] = txn
        tokens = (
            transaction_id_var.set(txn),
            trace_id_var.set(trace.trace_id),
            client_id_var.set(None),
            span_id_var.set(trace.span_id),
            trace_context_var.set(trace),
        )
        key_token = cursor_key_var.set(self.cursor_key) if self.cursor_key is not None else None
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
            too_large = self._head_too_large(len(scope["headers"]), header_bytes)
            if too_large is not None:
                await _send_problem(send_wrapper, 431, too_large, public_path(scope), "request-header-fields-too-large")
                return
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            # Answer here rather than in Starlette's outermost error middleware, so that even an
            # unexpected error carries the API-Version, security and trace headers.
            problems_logger.error("unhandled error", extra={"path": scope["path"]}, exc_info=exc)
            if started_response:
                raise
            detail = "An unexpected error occurred."
            await _send_problem(send_wrapper, 500, detail, public_path(scope), "internal-error")
        finally:
            elapsed = time.perf_counter() - started
            write_access_line(
                {
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "durationMs": round(elapsed * 1000, 2),
                    "clientId": state.get("client_id"),
                }
            )
            method, route = scope["method"], route_template(scope)
            if method not in _METHODS:  # a caller's made-up method must not make new series
                method = "other"
            series = self._series.get((method, route, status))
            if series is None:
                series = self._series[(method, route, status)] = (
                    metrics.HTTP_REQUESTS.labels(self.component, method, route, str(status)),
                    metrics.HTTP_DURATION.labels(self.component, method, route),
                )
            series[0].inc()
            series[1].observe(elapsed)
            if span is not None:
                telemetry.end_server_span(span, otel_token, method, route, status)
            if key_token is not None:
                cursor_key_var.reset(key_token)
            transaction_id_var.reset(tokens[0])
            trace_id_var.reset(tokens[1])
            client_id_var.reset(tokens[2])
            span_id_var.reset(tokens[3])
            trace_context_var.reset(tokens[4])

    def _head_too_large(self, count: int, size: int) -> str | None:
        if self.max_header_count is not None and count > self.max_header_count:
            return f"More than {self.max_header_count} request headers."
        if self.max_header_bytes is not None and size > self.max_header_bytes:
            return f"The request headers exceed {self.max_header_bytes} bytes."
        return None


async def _send_problem(send: Send, status: int, detail: str, instance: str, slug: str) -> None:
    body = json.dumps(problem_body(status, detail, instance, slug)).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class HeadAsGetMiddleware:
    """HEAD wherever GET is (RFC 9110 9.3.2): the GET route answers, with the same headers and no body.

    FastAPI's routes, unlike Starlette's, do not add HEAD beside GET. Here the request goes to the
    routes as GET and the body is dropped on the way out; ``Content-Length`` stays that of the GET.
    A path without GET answers 405 (its ``Allow`` from the problem handler), an unknown one 404.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        inner = dict(scope, method="GET")
        try:
            await self.app(inner, receive, without_body)
        finally:
            if "route" in inner:  # the route that answered, for the metrics and the span's name
                scope["route"] = inner["route"]
