from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from lmx_common.app import create_service_app
from lmx_common.events import delivery_worker, feed_router, subscriptions_router
from services.registry import audit, retention, storage
from services.registry.audit_router import router as audit_router
from services.registry.config import VERSION, RegistrySettings
from services.registry.events import EVENTS
from services.registry.router import router
from services.registry.statistics_router import router as statistics_router

DESCRIPTION = """Registrations of labour migrants: where they work and where they live.

Through the gateway at `/registry/v1`. Every call needs a bearer token from the gateway.
Municipalities see the registrations of people who live or work in them; an information point
sees those it made; everyone else sees statistics, perturbed by the cell-key method. Every read and
write of a person's data is in the processing log. Events (`registration.created`,
`registration.departed`, municipality codes only) are published as a CloudEvents feed at
`/v1/events` and to signed webhooks (`/v1/subscriptions`), each only to the municipalities the
registration concerns and the organisation that registered it."""


EVENT_AUDIENCE = (
    " `registration.created` and `registration.departed` are about one person each: they go only to the "
    "municipalities the registration works and lives in when the event happens (for a departure, those it "
    "had when it left) and to the organisation that registered it, such as a labour migrant information "
    "point. Every other client (national, inspectorate, certifier, province, services) receives none of "
    "them, whatever its scopes; counts are in `GET /v1/statistics`."
)


def create_app(settings: RegistrySettings | None = None) -> FastAPI:
    settings = settings or RegistrySettings()

    async def on_startup(app: FastAPI) -> None:
        app.state.vault = settings.vault()
        storage.secure_delete(app.state.database)  # before the first connection: erased data is overwritten

    @asynccontextmanager
    async def background(app: FastAPI) -> AsyncIterator[None]:
        async with (
            delivery_worker(app.state.database, EVENTS, settings) as worker,
            retention.scheduled(app.state.database, settings),
            audit.scheduled(app.state.database, settings),
        ):
            app.state.delivery_worker = worker
            yield

    require_https = settings.webhook_require_https or settings.environment == "production"

    return create_service_app(
        component="registry",
        title="Labour Migration Exchange — registry",
        description=DESCRIPTION,
        version=VERSION,
        settings=settings,
        routers=[
            router,
            statistics_router,
            audit_router,
            feed_router(EVENTS, audience=EVENT_AUDIENCE),
            subscriptions_router(EVENTS, require_https=require_https),
        ],
        on_startup=on_startup,
        background=background,
    )
