from fastapi import FastAPI

from lmx_common.app import create_service_app
from services.housing.config import VERSION, HousingSettings
from services.housing.router import router

DESCRIPTION = """Housing capacity, the fair share of each municipality in its region, people at risk.

Through the gateway at `/housing/v1`. Every call needs a bearer token from the gateway."""


def create_app(settings: HousingSettings | None = None) -> FastAPI:
    return create_service_app(
        component="housing",
        title="Labour Migration Exchange — housing",
        description=DESCRIPTION,
        version=VERSION,
        settings=settings or HousingSettings(),
        routers=[router],
    )
