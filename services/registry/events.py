"""The events this service publishes: municipality codes only, never a person or a registration id.

- ``registration.created``: workMunicipalityCode, residenceMunicipalityCode.
- ``registration.departed``: workMunicipalityCode, residenceMunicipalityCode.

Each is about one person, so each has an audience (docs/decisions/0028, visibility.py): the
municipalities of the registration when the event happens and the organisation that registered it.
Nobody else receives it, in the feed or through a webhook.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.events import EventModels, publish, publish_many
from services.registry.models import Delivery, FeedState, OutboxEvent, Registration, Subscription
from services.registry.visibility import event_audience, event_parties, registration_audience

REGISTRATION_CREATED = "registration.created"
REGISTRATION_DEPARTED = "registration.departed"

EVENTS = EventModels(
    outbox=OutboxEvent,
    feed_state=FeedState,
    subscription=Subscription,
    delivery=Delivery,
    source="urn:lmx:registry",
    event_types=(REGISTRATION_CREATED, REGISTRATION_DEPARTED),
    parties=event_parties,
)


def _codes(work: str, residence: str) -> dict[str, Any]:
    return {"workMunicipalityCode": work, "residenceMunicipalityCode": residence}


async def registration_created(session: AsyncSession, registration: Registration) -> None:
    await _publish(session, REGISTRATION_CREATED, registration)


async def registrations_created(
    session: AsyncSession, codes: Sequence[tuple[str, str]], registered_by_oin: str
) -> None:
    """One event per created registration, given as (work municipality code, residence municipality code),
    all registered by the organisation ``registered_by_oin``."""
    await publish_many(
        session,
        EVENTS,
        type=REGISTRATION_CREATED,
        events=[(None, _codes(*c), event_audience(*c, registered_by_oin)) for c in codes],
    )


async def registration_departed(session: AsyncSession, registration: Registration) -> None:
    """Its audience is the municipalities it had at departure (and who registered it)."""
    await _publish(session, REGISTRATION_DEPARTED, registration)


async def _publish(session: AsyncSession, event_type: str, registration: Registration) -> None:
    await publish(
        session,
        EVENTS,
        type=event_type,
        subject=None,
        data=_codes(registration.work_municipality_code, registration.residence_municipality_code),
        audience=registration_audience(registration),
    )
