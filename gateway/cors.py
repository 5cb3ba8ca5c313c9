"""CORS for browser clients (NL GOV API Design Rules): configured origins only, preflight answered here.

One pure ASGI middleware around the whole gateway, the proxy and FastAPI's own routes alike, so every
answer (a proxied one, a problem the proxy or the edge limits made, the token endpoint's) gets the
same headers in one place. A request without an ``Origin`` header costs one scan of its headers and
nothing else; with no origins configured (the production default) the middleware is not installed.

Origins are matched exactly on scheme, host and port after parsing; a configured ``:*`` port matches
any port of that scheme and host and nothing else (``http://localhost:*`` does not match
``http://localhost.example.org``). ``null`` and anything that does not parse never match.

A preflight from a disallowed origin gets ``403`` problem+json without any ``Access-Control-*`` header:
the Fetch standard fails the CORS check on the missing headers, and the body tells a developer why.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lmx_common.problems import problem_body

ALLOW_METHODS = b"GET, HEAD, POST, PUT, PATCH, DELETE"
ALLOW_HEADERS = b"Authorization, Content-Type, Idempotency-Key, If-Match, X-Processing-Activity, traceparent"
EXPOSE_HEADERS = b"Location, ETag, API-Version, Link, Retry-After, X-Transaction-Id"
MAX_AGE = b"600"

_ORIGIN = re.compile(r"^(https?)://([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])(?::([0-9]{1,5}))?$")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def _parse(origin: str, wildcard_port: bool = False) -> tuple[str, str, str] | None:
    """(scheme, host, port) of a serialised origin, or None. With wildcard_port, ``:*`` gives port ``*``."""
    text = origin.strip().lower()
    wildcard = wildcard_port and text.endswith(":*")
    match = _ORIGIN.match(text[:-2] if wildcard else text)
    if match is None:
        return None
    scheme, host, port = match.groups()
    if wildcard:
        return (scheme, host, "*") if port is None else None
    if port is not None and not 0 < int(port) < 65536:
        return None
    return scheme, host, port or _DEFAULT_PORTS[scheme]


@dataclass(frozen=True)
class OriginPolicy:
    exact: frozenset[tuple[str, str, str]]
    any_port: frozenset[tuple[str, str]]

    @classmethod
    def parse(cls, setting: str) -> OriginPolicy:
        """From a comma-separated list such as ``https://portal.example.nl,http://localhost:*``."""
        exact, any_port = set(), set()
        for item in (part.strip() for part in setting.split(",")):
            if not item:
                continue
            parsed = _parse(item, wildcard_port=True)
            if parsed is None:
                raise ValueError(f"not an origin: {item!r} (scheme://host[:port] or scheme://host:*)")
            if parsed[2] == "*":
                any_port.add(parsed[:2])
            else:
                exact.add(parsed)
        return cls(frozenset(exact), frozenset(any_port))

    def __bool__(self) -> bool:
        return bool(self.exact or self.any_port)

    def allows(self, origin: str) -> bool:
        parsed = _parse(origin)
        return parsed is not None and (parsed in self.exact or parsed[:2] in self.any_port)


def _preflight_path(path: str, services: frozenset[str]) -> bool:
    """Paths whose preflight the gateway answers: the proxied APIs and the token endpoint."""
    return path == "/oauth/token" or path[1:].partition("/")[0] in services


class CorsMiddleware:
    def __init__(self, app: ASGIApp, policy: OriginPolicy, services: frozenset[str]) -> None:
        self.app = app
        self.policy = policy
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin: bytes | None = None
        preflight = False
        for key, value in scope["headers"]:
            if key == b"origin":
                origin = value
            elif key == b"access-control-request-method":
                preflight = True
        if origin is None:
            await self.app(scope, receive, send)
            return
        allowed = self.policy.allows(origin.decode("latin-1"))
        if preflight and scope["method"] == "OPTIONS" and _preflight_path(scope["path"], self.services):
            await self._preflight(send, origin if allowed else None, scope["path"])
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                headers.append((b"vary", b"Origin"))
                if allowed:
                    headers.append((b"access-control-allow-origin", origin))
                    headers.append((b"access-control-expose-headers", EXPOSE_HEADERS))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    async def _preflight(send: Send, origin: bytes | None, path: str) -> None:
        if origin is None:
            body = json.dumps(problem_body(403, "This origin may not call the API.", path, "forbidden")).encode()
            headers = [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"vary", b"Origin"),
            ]
            await send({"type": "http.response.start", "status": 403, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        headers = [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-methods", ALLOW_METHODS),
            (b"access-control-allow-headers", ALLOW_HEADERS),
            (b"access-control-max-age", MAX_AGE),
            (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
