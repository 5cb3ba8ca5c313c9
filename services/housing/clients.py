"""Typed calls to the other services, through the gateway, with the housing service's own token.

The housing service is a client like any other: client credentials at the gateway's token
endpoint, the token cached until shortly before it expires, one pooled HTTP client per process.
It never opens another service's database.

Every call carries the trace of the request (or job run) that makes it (``traceparent``, and
``tracestate`` when the caller sent one): with tracing on from a CLIENT span, else from the request's
own span, so a fair-share request is one trace from the caller through the gateway to the registry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import httpx

from lmx_common import telemetry
from services.housing.config import HousingSettings

logger = logging.getLogger("lmx.housing.clients")


class UpstreamUnavailable(Exception):
    """The gateway or the service behind it did not give a usable answer."""


class CursorRefused(UpstreamUnavailable):
    """A feed answered 400 for the cursor we sent (``after``): it is not one of its cursors (any more)."""


class GatewayClient:
    def __init__(self, http: httpx.AsyncClient, settings: HousingSettings) -> None:
        self.http = http
        self.base = settings.gateway_url.rstrip("/")
        self.client_id = settings.client_id
        self.client_secret = settings.client_secret
        self.margin = settings.token_refresh_margin_seconds
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def _access_token(self) -> str:
        if self._token is not None and time.monotonic() < self._expires_at - self.margin:
            return self._token
        async with self._lock:
            if self._token is not None and time.monotonic() < self._expires_at - self.margin:
                return self._token
            if not self.client_secret:
                raise UpstreamUnavailable("the housing service has no client secret (HOUSING_CLIENT_SECRET)")
            started = time.monotonic()
            with telemetry.client_call("POST /oauth/token", {"http.request.method": "POST"}) as (trace, span):
                try:
                    response = await self.http.post(
                        self.base + "/oauth/token",
                        data={"grant_type": "client_credentials"},
                        auth=(self.client_id, self.client_secret),
                        headers=trace,
                    )
                except httpx.HTTPError as exc:
                    telemetry.call_outcome(span, error=exc)
                    raise UpstreamUnavailable(f"token endpoint unreachable: {type(exc).__name__}") from exc
                telemetry.call_outcome(span, response.status_code)
            if response.status_code != 200:
                raise UpstreamUnavailable(f"token endpoint answered {response.status_code}")
            try:
                body = response.json()
                self._token = str(body["access_token"])
                self._expires_at = started + float(body.get("expires_in", 60))
            except (ValueError, KeyError, TypeError) as exc:
                raise UpstreamUnavailable("token endpoint sent an unusable answer") from exc
            return self._token

    def forget_token(self) -> None:
        self._token = None

    async def get_json(self, path: str, params: Sequence[tuple[str, str | int]] = ()) -> dict[str, Any]:
        """GET a JSON object through the gateway; anything but a 200 with an object is unavailable."""
        for attempt in (1, 2):
            token = await self._access_token()
            with telemetry.client_call(f"GET {path}", {"http.request.method": "GET", "url.path": path}) as (
                trace,
                span,
            ):
                try:
                    response = await self.http.get(
                        self.base + path, params=list(params), headers={"Authorization": f"Bearer {token}", **trace}
                    )
                except httpx.HTTPError as exc:
                    telemetry.call_outcome(span, error=exc)
                    raise UpstreamUnavailable(f"{path}: {type(exc).__name__}") from exc
                telemetry.call_outcome(span, response.status_code)
            if response.status_code == 401 and attempt == 1:
                self.forget_token()  # revoked or rotated: one fresh token, then give up
                continue
            if response.status_code == 400 and _names_param(response, "after"):
                raise CursorRefused(f"{path} refused the cursor")
            if response.status_code != 200:
                raise UpstreamUnavailable(f"{path} answered {response.status_code}")
            try:
                body = response.json()
            except ValueError as exc:
                raise UpstreamUnavailable(f"{path} sent no JSON") from exc
            if not isinstance(body, dict):
                raise UpstreamUnavailable(f"{path} sent no JSON object")
            return body
        raise UpstreamUnavailable(f"{path}: not authorised")


def _names_param(response: httpx.Response, name: str) -> bool:
    """Whether a 400 problem lists ``name`` among its invalid parameters."""
    try:
        params = response.json().get("invalidParams", [])
        return any(isinstance(p, dict) and p.get("name") == name for p in params)
    except (ValueError, AttributeError):
        return False


def http_client(settings: HousingSettings) -> httpx.AsyncClient:
    """The one pooled client of the process, with explicit timeouts."""
    timeout = httpx.Timeout(settings.upstream_read_timeout_seconds, connect=settings.upstream_connect_timeout_seconds)
    return httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=50, max_keepalive_connections=10))
