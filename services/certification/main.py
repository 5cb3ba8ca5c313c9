from fastapi import FastAPI

from lmx_common.app import create_service_app
from services.certification.config import VERSION, CertificationSettings
from services.certification.router import router

DESCRIPTION = """Certification status of employment agencies and landlords, and abuse reports.

Through the gateway at `/certification/v1`. Every call needs a bearer token from the gateway."""


def create_app(settings: CertificationSettings | None = None) -> FastAPI:
    return create_service_app(
        component="certification",
        title="Labour Migration Exchange — certification",
        description=DESCRIPTION,
        version=VERSION,
        settings=settings or CertificationSettings(),
        routers=[router],
    )
