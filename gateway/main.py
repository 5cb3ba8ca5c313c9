"""create_app(): the gateway."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import catalogue, docs, oauth, routes
from gateway.clients import SecretVerifier
from gateway.config import VERSION, GatewaySettings
from gateway.cors import CorsMiddleware, OriginPolicy
from gateway.edge import EdgeLimits
from gateway.keys import KeyStore, ensure_key
from gateway.proxy import ProxyMiddleware, ProxyState
from gateway.ratelimit import RateLimiter
from gateway.upstream import Upstream
from lmx_common import metrics, telemetry
from lmx_common.app import build_app
from lmx_common.auth import TokenVerifier
from lmx_common.db import Database
from lmx_common.lifecycle import FIRST_WAIT, MAX_WAIT, Lifecycle, LifecycleGuard, SchemaGate
from lmx_common.logging import configure_logging
from lmx_common.middleware import RequestContextMiddleware

logger = logging.getLogger("lmx.gateway")

DESCRIPTION = """The single public entry of the Labour Migration Exchange.

Get an access token at `POST /oauth/token` (client credentials; `client_secret_basic` or
`private_key_jwt`), then call `/registry/v1/…`, `/certification/v1/…` or `/housing/v1/…` with
`Authorization: Bearer <token>`. The gateway checks the token and the route's scopes, limits the
rate per client, adds a transaction id and a W3C `traceparent`, and answers `502`/`503`/`504`
(problem types `/problems/gateway-…`) when a service fails.
"""


class GatewayApp(FastAPI):
    """FastAPI for the gateway's own pages; proxied calls skip it.

    A path under a service prefix goes straight to RequestContextMiddleware and ProxyMiddleware
    (`self.proxied`): FastAPI's and Starlette's per-request machinery (telemetry check, error and
    exception middleware, router) does nothing for them, since the proxy answers every outcome itself
    (ADR 0003). Everything else, lifespan included, is FastAPI's.
    """

    proxied: ASGIApp
    entry: ASGIApp | None = None  # CORS around both, when origins are configured (gateway/cors.py)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.entry is not None:
            await self.entry(scope, receive, send)
        else:
            await self.dispatch(scope, receive, send)

    async def dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"][1:].partition("/")[0] in routes.SERVICES:
            scope["app"] = self
            await self.proxied(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    edge = functools.partial(
        EdgeLimits,
        max_url_bytes=settings.max_url_bytes,
        max_header_bytes=settings.max_header_bytes,
        max_header_count=settings.max_header_count,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging("gateway", settings.log_level)
        telemetry.configure("gateway")
        database = Database(settings.database_url, name="gateway")
        key_store = KeyStore(database.sessionmaker, settings.key_passphrase, cache_seconds=settings.key_cache_seconds)
        verifier = TokenVerifier(
            key_store,
            settings.issuer,
            settings.token_audience,
            settings.token_leeway_seconds,
            settings.max_authorization_header_bytes,
            cache_seconds=settings.key_cache_seconds,
        )
        rate_limiter = RateLimiter(settings.rate_limit, settings.anonymous_rate_limit, settings.redis_url)
        upstreams = {
            name: Upstream(
                name,
                url,
                settings.upstream_pool_size,
                settings.upstream_queue_timeout,
                settings.breaker_failures,
                settings.breaker_cooldown_seconds,
            )
            for name, url in settings.upstreams().items()
        }
        secret_verifier = SecretVerifier(settings.secret_verify_concurrency, settings.secret_verify_queue_timeout)
        app.state.settings = settings
        app.state.database = database
        app.state.key_store = key_store
        app.state.rate_limiter = rate_limiter
        app.state.secret_verifier = secret_verifier
        app.state.token_verifier = verifier  # the catalogue's CallerDep
        app.state.proxy = ProxyState(
            upstreams=upstreams,
            verifier=verifier,
            rate_limiter=rate_limiter,
            max_body_bytes=settings.max_body_bytes,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            max_authorization_bytes=settings.max_authorization_header_bytes,
            routes=routes.RouteTable.load(settings.route_table_file)
            if settings.route_table_file
            else routes.default_table(),
        )
        lifecycle: Lifecycle = app.state.lifecycle
        checks = app.state.readiness_checks
        checks["database"] = database.ping
        gate = SchemaGate("gateway", database)
        checks["schema"] = gate.check
        checks["keys"] = lifecycle.check  # started: the schema is at head and a signing key exists
        for name, service in upstreams.items():
            checks[name] = _upstream_check(service.session, service.base_url, settings.connect_timeout)
        if settings.redis_url:
            checks["redis"] = rate_limiter.ping
        metrics_server = metrics.serve(settings.metrics_port, settings.metrics_host)
        logger.info("started", extra={"version": VERSION, "upstreams": settings.upstreams()})

        @asynccontextmanager
        async def with_keys() -> AsyncIterator[None]:
            await _ensure_signing_key(database, settings.key_passphrase)
            yield

        try:
            # Serves its health probes at once; ready (and serving) once migrated and a key exists.
            async with lifecycle.running(gate, with_keys):
                yield
        finally:
            for service in upstreams.values():
                await service.close()
            secret_verifier.close()
            await database.dispose()
            telemetry.flush()
            if metrics_server is not None:
                metrics_server.close()

    app = build_app(
        title="Labour Migration Exchange — gateway",
        description=DESCRIPTION,
        version=VERSION,
        lifespan=lifespan,
        openapi_path="/openapi.json",
        routers=[oauth.router, docs.router, catalogue.router],
        inner_middleware=[edge],
        app_class=GatewayApp,
        token_url=settings.token_endpoint,
        component="gateway",
        shutdown_delay=settings.shutdown_delay_seconds,
        shutdown_timeout=settings.shutdown_timeout_seconds,
    )
    assert isinstance(app, GatewayApp)
    app.proxied = RequestContextMiddleware(
        LifecycleGuard(edge(ProxyMiddleware(app.router)), app.state.lifecycle),
        api_version=VERSION,
        component="gateway",
    )
    origins = OriginPolicy.parse(settings.cors_origin_list())
    if origins:
        app.entry = CorsMiddleware(app.dispatch, origins, frozenset(routes.SERVICES))
    app.add_exception_handler(oauth.OAuthError, oauth.oauth_error_handler)
    return app


async def _ensure_signing_key(database: Database, passphrase: str) -> None:
    """The active signing key, made on the first run (development; `lmx keys ensure` in a deployment).
    Tried again with backoff while it fails (the database went away after the schema check)."""
    delay = FIRST_WAIT
    logged = False
    while True:
        try:
            async with database.sessionmaker() as session:
                _, created = await ensure_key(session, passphrase)
                await session.commit()
        except Exception as exc:
            if not logged:  # once, not per try
                logger.warning("could not load the signing key", extra={"errorType": type(exc).__name__})
                logged = True
            await asyncio.sleep(delay)
            delay = min(MAX_WAIT, delay * 2)
            continue
        if created:
            logger.info("created a signing key")
        return


def _upstream_check(session: aiohttp.ClientSession, base_url: str, connect_timeout: float):  # type: ignore[no-untyped-def]
    async def check() -> None:
        timeout = aiohttp.ClientTimeout(total=2.0, sock_connect=connect_timeout)
        async with session.get(base_url + "/health/live", timeout=timeout) as response:
            if response.status != 200:
                raise ConnectionError(f"upstream answered {response.status}")

    return check
