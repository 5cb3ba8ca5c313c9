"""The proxy: authenticate, authorise, limit, forward to the upstream service, and answer for it when it fails.

A pure ASGI middleware in front of the gateway's own routes, so a proxied call costs no routing
or dependency resolution; everything it answers itself is problem+json.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import aiohttp
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import routes
from gateway.edge import send_problem
from gateway.ratelimit import RateLimiter
from gateway.upstream import PROBE, Upstream, retry_after
from lmx_common import telemetry
from lmx_common.auth import AuthError, TokenVerifier, insufficient_scope
from lmx_common.metrics import UPSTREAM_DURATION, UPSTREAM_ERRORS
from lmx_common.problems import ProblemError
from lmx_common.tracing import CALLER_SPAN_HEADER, TRANSACTION_HEADER, TraceContext

logger = logging.getLogger("lmx.gateway.proxy")

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "proxy-connection",
    }
)
# Headers a caller could use to pose as someone else, or to forge what the gateway asserts.
IDENTITY_HEADERS = frozenset(
    {
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-forwarded-prefix",
        "x-forwarded-port",
        "x-real-ip",
        "x-client-id",
        "x-client-ip",
        "x-organisation",
        "x-organization",
        "x-org",
        "x-oin",
        "x-principal",
        "x-remote-user",
        "remote-user",
        "x-user",
        "x-user-id",
        "x-scopes",
        "x-scope",
    }
)
IDENTITY_PREFIXES = ("x-consumer-", "x-authenticated-", "x-lmx-", "x-auth-", "x-org-", "x-user-")
# Set by the gateway itself below; whatever the caller sent is dropped.
OWN_HEADERS = frozenset({"host", "content-length", "traceparent", "tracestate", TRANSACTION_HEADER})
# The same as bytes, as the ASGI server hands them over: one set lookup per request header.
_DROP_REQUEST = frozenset(h.encode() for h in HOP_BY_HOP | IDENTITY_HEADERS | OWN_HEADERS)
_DROP_PREFIXES = tuple(p.encode() for p in IDENTITY_PREFIXES)
RESPONSE_DROP = frozenset(h.encode() for h in HOP_BY_HOP | {"content-length", "server", "date"})
_BAD_IN_RAW_PATH = (b"%2f", b"%5c", b"%23", b"%3f", b"%2e")
# Every API answer is application/json or application/problem+json. The usual Accept values are
# answered by one set lookup; anything else is parsed once (RFC 9110 §12.5.1) and a request that
# accepts neither gets 406.
_ACCEPT_SERVED = frozenset({b"application/json", b"application/problem+json"})
_ACCEPT_ANY = frozenset({b"*/*", b"application/*"})
_ACCEPT_FAST = frozenset({b"*/*", b"application/json", b"application/problem+json", b"application/json, */*"})


def acceptable(accept: bytes) -> bool:
    """Whether an Accept header admits application/json or application/problem+json (q > 0)."""
    if accept in _ACCEPT_FAST or not accept.strip():
        return True
    for media_range in accept.lower().split(b","):
        kind, *params = (part.strip() for part in media_range.split(b";"))
        if kind not in _ACCEPT_SERVED and kind not in _ACCEPT_ANY:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition(b"=")
            if name.strip() == b"q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        if q > 0:
            return True
    return False


def public_location(value: bytes, internal: tuple[tuple[bytes, bytes], ...]) -> bytes:
    """An upstream's Location at its own (internal) base URL, rewritten to the gateway's public path."""
    lowered = value.lower()
    for base, prefix in internal:
        if lowered.startswith(base):
            rest = value[len(base) :]
            if not rest or rest[:1] in (b"/", b"?", b"#"):
                return prefix + (rest if rest[:1] == b"/" else b"/" + rest)
    return value


@dataclass
class ProxyState:
    upstreams: dict[str, Upstream]
    verifier: TokenVerifier
    rate_limiter: RateLimiter
    max_body_bytes: int  # unless the route says otherwise
    connect_timeout: float
    read_timeout: float
    max_authorization_bytes: int
    routes: routes.RouteTable
    timeout: aiohttp.ClientTimeout = field(init=False)
    # (internal base URL, public prefix) of every upstream: a Location at the one becomes the other.
    internal_bases: tuple[tuple[bytes, bytes], ...] = field(init=False)

    def __post_init__(self) -> None:
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout, sock_read=self.read_timeout)
        self.internal_bases = tuple(
            (upstream.base_url.rstrip("/").lower().encode(), b"/" + name.encode())
            for name, upstream in self.upstreams.items()
        )


class ProxyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        service, sep, rest = path[1:].partition("/")
        if service not in routes.SERVICES:
            await self.app(scope, receive, send)
            return
        upstream_path = "/" + rest if sep else "/"
        raw = scope.get("raw_path", b"").lower()
        if ("/." in upstream_path and any(seg in (".", "..") for seg in upstream_path.split("/"))) or (
            b"%" in raw and any(bad in raw for bad in _BAD_IN_RAW_PATH)
        ):
            # Dot segments and encoded separators would be normalised on the way upstream, after the
            # scope check matched the path as sent: refuse them rather than check one path and forward another.
            await send_problem(send, 400, "The path has dot segments or encoded separators.", path, "invalid-input")
            return
        try:
            await self._proxy(scope, receive, send, service, upstream_path)
        except ProblemError as exc:
            await send_problem(send, exc.status, exc.detail, path, exc.slug, dict(exc.headers))

    async def _proxy(self, scope: Scope, receive: Receive, send: Send, service: str, upstream_path: str) -> None:
        state: ProxyState = scope["app"].state.proxy
        method: str = scope["method"]
        rule = state.routes.match(service, upstream_path, method)
        if rule is None:
            allowed = state.routes.allowed(service, upstream_path)
            if allowed:  # TRACE and CONNECT land here too: no route offers them
                raise ProblemError(
                    405,
                    f"{method} is not allowed here.",
                    slug="method-not-allowed",
                    headers={"Allow": ", ".join(sorted(allowed))},
                )
            bare = upstream_path.rstrip("/")
            if bare and bare != upstream_path and state.routes.allowed(service, bare):
                # Never redirected (a redirect from the service would name its internal address): refused.
                raise ProblemError(
                    404, f"No resource at this path; without the trailing slash: /{service}{bare}", slug="not-found"
                )
            raise ProblemError(404, "No resource at this path.", slug="not-found")
        scope["state"]["route"] = f"/{service}{rule.path}"  # the metrics' and the span's route label

        headers: dict[str, str] = {}
        authorization: bytes | None = None
        content_length: bytes | None = None
        accept: bytes | None = None
        connection_named: list[str] = []
        for raw_key, raw_value in scope["headers"]:
            key = raw_key.lower()
            if key == b"authorization":
                authorization = raw_value
            elif key == b"content-length":
                content_length = raw_value
            elif key == b"accept":
                accept = raw_value if accept is None else accept + b", " + raw_value
            elif key == b"connection":
                connection_named += (v.strip().lower() for v in raw_value.decode("latin-1").split(","))
            if key in _DROP_REQUEST or key.startswith(_DROP_PREFIXES):
                continue
            headers[key.decode("latin-1")] = raw_value.decode("latin-1")
        for name in connection_named:
            headers.pop(name, None)
        if accept is not None and not acceptable(accept):  # before any token work
            raise ProblemError(
                406,
                "This API answers application/json (and application/problem+json); the Accept header admits neither.",
                slug="not-acceptable",
            )

        client_key = scope["client"][0] if scope.get("client") else "unknown"
        if rule.public:
            headers.pop("authorization", None)
            retry = await state.rate_limiter.check(client_key, anonymous=True)
        else:
            if authorization is None:
                raise AuthError("A bearer token is required.", error=None)
            if len(authorization) > state.max_authorization_bytes:
                raise AuthError("The Authorization header is too large.")
            scheme, _, token = authorization.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthError("The Authorization header must use the Bearer scheme.", error="invalid_request")
            principal = await state.verifier.verify(token.strip())
            scope["state"]["client_id"] = principal.client_id
            if rule.any_of_scopes != routes.AUTHENTICATED and not principal.has_any_scope(*rule.any_of_scopes):
                raise insufficient_scope(rule.any_of_scopes)
            retry = await state.rate_limiter.check(principal.client_id)
        if retry is not None:
            raise ProblemError(
                429,
                "Rate limit exceeded; retry later.",
                slug="too-many-requests",
                headers={"Retry-After": str(int(retry))},
            )

        body = await self._read_body(receive, content_length, rule.max_body_bytes or state.max_body_bytes)

        trace: TraceContext = scope["state"]["trace"]
        if trace.parent_span_id:  # the caller's own span (a client's x-lmx-* headers were dropped above)
            headers[CALLER_SPAN_HEADER] = trace.parent_span_id
        headers[TRANSACTION_HEADER] = scope["state"]["transaction_id"]
        headers["x-forwarded-for"] = client_key
        headers["x-forwarded-proto"] = scope.get("scheme", "http")
        headers["x-forwarded-prefix"] = "/" + service
        query = scope.get("query_string", b"").decode("latin-1")
        upstream = state.upstreams[service]
        url = upstream.base_url + upstream_path + (f"?{query}" if query else "")

        breaker = upstream.breaker
        admitted = breaker.admit()
        if admitted > 0:
            UPSTREAM_ERRORS.labels(service, "circuit-open").inc()
            raise ProblemError(
                503,
                f"The {service} service is failing; the gateway does not call it for a while.",
                slug="gateway-upstream-unavailable",
                headers={"Retry-After": retry_after(admitted)},
            )
        if not await upstream.acquire():
            breaker.failure()
            UPSTREAM_ERRORS.labels(service, "saturated").inc()
            logger.warning("upstream pool saturated", extra={"service": service})
            raise ProblemError(
                503,
                f"No connection to the {service} service came free in time.",
                slug="gateway-upstream-unavailable",
                headers={"Retry-After": retry_after(upstream.queue_timeout)},
            )
        settled = False
        call = telemetry.client_call(
            f"{method} {service}", {"http.request.method": method, "lmx.upstream": service, "url.path": rule.path}
        )
        # The callee's parent: the CLIENT span with tracing on, else the gateway's request span; the
        # caller's tracestate goes on unchanged.
        carried, span = call.__enter__()
        headers.update(carried)
        started = time.perf_counter()
        try:
            async with upstream.session.request(
                method, url, headers=headers, data=body or None, allow_redirects=False, timeout=state.timeout
            ) as response:
                payload = await response.read()
                out = [(k, v) for k, v in ((k.lower(), v) for k, v in response.raw_headers) if k not in RESPONSE_DROP]
                if 300 <= response.status < 400 or response.status == 201:
                    out = [(k, public_location(v, state.internal_bases) if k == b"location" else v) for k, v in out]
                status = response.status
            settled = True
            breaker.success()
            UPSTREAM_DURATION.labels(service).observe(time.perf_counter() - started)
            telemetry.call_outcome(span, status)
        except (aiohttp.ConnectionTimeoutError, aiohttp.ClientConnectorError) as exc:
            settled = True
            breaker.failure()
            UPSTREAM_ERRORS.labels(service, "unreachable").inc()
            telemetry.call_outcome(span, error=exc)
            logger.warning("upstream unavailable", extra={"service": service, "errorType": type(exc).__name__})
            raise ProblemError(
                503,
                f"The {service} service could not be reached.",
                slug="gateway-upstream-unavailable",
                headers={"Retry-After": "5"},
            ) from exc
        except (aiohttp.SocketTimeoutError, TimeoutError) as exc:
            settled = True
            breaker.failure()
            UPSTREAM_ERRORS.labels(service, "timeout").inc()
            telemetry.call_outcome(span, error=exc)
            logger.warning("upstream timeout", extra={"service": service})
            raise ProblemError(
                504, f"The {service} service did not answer in time.", slug="gateway-upstream-timeout"
            ) from exc
        except aiohttp.ClientError as exc:
            settled = True
            breaker.failure()
            UPSTREAM_ERRORS.labels(service, "bad-response").inc()
            telemetry.call_outcome(span, error=exc)
            logger.warning("bad upstream response", extra={"service": service, "errorType": type(exc).__name__})
            raise ProblemError(
                502, f"The {service} service gave no valid response.", slug="gateway-bad-upstream-response"
            ) from exc
        finally:
            call.__exit__(None, None, None)
            upstream.release()
            if admitted == PROBE and not settled:
                breaker.abandon_probe()
        out.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": payload})

    @staticmethod
    async def _read_body(receive: Receive, content_length: bytes | None, limit: int) -> bytes:
        if content_length is not None:
            try:
                declared = int(content_length)
            except ValueError as exc:
                raise ProblemError(400, "Content-Length is not a number.", slug="invalid-input") from exc
            if declared > limit:
                raise ProblemError(413, f"The request body exceeds {limit} bytes.", slug="payload-too-large")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise asyncio.CancelledError
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise ProblemError(413, f"The request body exceeds {limit} bytes.", slug="payload-too-large")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
