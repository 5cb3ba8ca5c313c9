"""The events this service publishes: municipality codes only, never a person or a registration id.

- ``registration.created``: workMunicipalityCode, residenceMunicipalityCode.
- ``registration.departed``: workMunicipalityCode, residenceMunicipalityCode.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.events import EventModels, publish, publish_many
from services.registry.models import Delivery, FeedState, OutboxEvent, Registration, Subscription

REGISTRATION_CREATED = "registration.created"
REGISTRATION_DEPARTED = "registration.departed"

EVENTS = EventModels(
    outbox=OutboxEvent,
    feed_state=FeedState,
    subscription=Subscription,
    delivery=Delivery,
    source="urn:lmx:registry",
    event_types=(REGISTRATION_CREATED, REGISTRATION_DEPARTED),
)


def _codes(work: str, residence: str) -> dict[str, Any]:
    return {"workMunicipalityCode": work, "residenceMunicipalityCode": residence}


async def registration_created(session: AsyncSession, registration: Registration) -> None:
    await publish(
        session,
        EVENTS,
        type=REGISTRATION_CREATED,
        subject=None,
        data=_codes(registration.work_municipality_code, registration.residence_municipality_code),
    )


async def registrations_created(session: AsyncSession, codes: Sequence[tuple[str, str]]) -> None:
    """One event per created registration, given as (work municipality code, residence municipality code)."""
    await publish_many(session, EVENTS, type=REGISTRATION_CREATED, events=[(None, _codes(*c)) for c in codes])


async def registration_departed(session: AsyncSession, registration: Registration) -> None:
    await publish(
        session,
        EVENTS,
        type=REGISTRATION_DEPARTED,
        subject=None,
        data=_codes(registration.work_municipality_code, registration.residence_municipality_code),
    )
