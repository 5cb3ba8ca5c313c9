from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from lmx_common.app import create_service_app
from lmx_common.events import delivery_worker, feed_router, subscriptions_router
from services.certification.config import VERSION, CertificationSettings
from services.certification.events import EVENTS
from services.certification.expiry import expiry_job
from services.certification.router import router

DESCRIPTION = """Certification status of employment agencies and landlords, and abuse reports.

Through the gateway at `/certification/v1`. Every call needs a bearer token from the gateway.
Events (`certificate.status-changed`, `report.created`, `report.status-changed`) are published
as a CloudEvents feed at `/v1/events` and to signed webhooks (`/v1/subscriptions`)."""


def create_app(settings: CertificationSettings | None = None) -> FastAPI:
    settings = settings or CertificationSettings()
    require_https = settings.webhook_require_https or settings.environment == "production"

    @asynccontextmanager
    async def background(app: FastAPI) -> AsyncIterator[None]:
        async with (
            delivery_worker(app.state.database, EVENTS, settings) as worker,
            expiry_job(app.state.database, settings.expiry_interval_seconds),
        ):
            app.state.delivery_worker = worker
            yield

    return create_service_app(
        component="certification",
        title="Labour Migration Exchange — certification",
        description=DESCRIPTION,
        version=VERSION,
        settings=settings,
        routers=[router, feed_router(EVENTS), subscriptions_router(EVENTS, require_https=require_https)],
        background=background,
    )
