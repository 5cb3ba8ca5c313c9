from fastapi import FastAPI

from lmx_common.app import create_service_app
from services.registry.config import VERSION, RegistrySettings
from services.registry.router import router

DESCRIPTION = """Registrations of labour migrants: where they work and where they live.

Through the gateway at `/registry/v1`. Every call needs a bearer token from the gateway."""


def create_app(settings: RegistrySettings | None = None) -> FastAPI:
    return create_service_app(
        component="registry",
        title="Labour Migration Exchange — registry",
        description=DESCRIPTION,
        version=VERSION,
        settings=settings or RegistrySettings(),
        routers=[router],
    )
