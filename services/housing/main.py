from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from lmx_common.app import create_service_app
from services.housing.clients import GatewayClient, http_client
from services.housing.config import VERSION, HousingSettings
from services.housing.feed_consumer import certification_consumer
from services.housing.locations_router import router as locations_router
from services.housing.router import router

DESCRIPTION = """Housing capacity, the fair share of each municipality in its region, people at risk.

Through the gateway at `/housing/v1`. Every call needs a bearer token from the gateway.
Working migrants come from the registry's statistics and certificate changes from the
certification service's event feed, both through the gateway with the housing service's own
client credentials. Counts are published through the cell-key method (docs/privacy.md)."""


def create_app(settings: HousingSettings | None = None) -> FastAPI:
    settings = settings or HousingSettings()

    @asynccontextmanager
    async def background(app: FastAPI) -> AsyncIterator[None]:
        # Tokens are fetched lazily, on the first call: the gateway may start after this service.
        async with http_client(settings) as http:
            gateway = GatewayClient(http, settings)
            app.state.gateway = gateway
            async with certification_consumer(app.state.database, gateway, settings):
                yield

    return create_service_app(
        component="housing",
        title="Labour Migration Exchange — housing",
        description=DESCRIPTION,
        version=VERSION,
        settings=settings,
        routers=[router, locations_router],
        background=background,
    )
