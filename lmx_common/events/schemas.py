"""Request and response bodies of the event feed and the webhook subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lmx_common.pagination import Page, PageLinks
from lmx_common.schemas import CamelModel


class CloudEventRead(BaseModel):
    """A CloudEvents 1.0 event in structured JSON. ``data`` carries ids, codes and statuses only."""

    specversion: str = Field(examples=["1.0"])
    id: str = Field(examples=["0b9f6a0e-5a55-4bd1-9f38-3cbb1e3a4a43"])
    source: str = Field(examples=["urn:lmx:certification"])
    type: str = Field(examples=["certificate.status-changed"])
    subject: str | None = Field(default=None, examples=["certificates/5d1c..."])
    time: datetime
    datacontenttype: str = Field(examples=["application/json"])
    data: dict[str, Any]


class EventFeed(CamelModel):
    """Events after the cursor, oldest first. Poll ``next`` (also in ``_links``) for later events."""

    items: list[CloudEventRead]
    next: str = Field(description="Cursor to pass as `after`; unchanged when no new event was found.")
    links: PageLinks = Field(alias="_links")


class SubscriptionCreate(CamelModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"callbackUrl": "https://example.nl/hooks/lmx", "eventTypes": ["certificate.status-changed"]}]
        }
    )

    callback_url: str = Field(max_length=2000, examples=["https://example.nl/hooks/lmx"])
    event_types: list[str] = Field(examples=[["certificate.status-changed"]])


class DeliveryState(CamelModel):
    """Counts of this subscription's deliveries per state, and what happens next."""

    pending: int
    delivered: int
    dead_lettered: int
    failed_attempts: int = Field(description="Failed attempts over all deliveries.")
    last_error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None


class SubscriptionRead(CamelModel):
    id: str
    callback_url: str
    event_types: list[str]
    created_at: datetime
    delivery_state: DeliveryState


class SubscriptionCreated(SubscriptionRead):
    """As a subscription, plus the signing secret: shown this once, keep it safe."""

    secret: str = Field(examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])


class SubscriptionList(BaseModel):
    items: list[SubscriptionRead]


class DeliveryRead(CamelModel):
    event_id: str
    status: str = Field(examples=["pending", "delivered", "dead-lettered"])
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None


class DeliveryList(Page[DeliveryRead]):
    """A subscription's deliveries in feed order."""


class ReplayCreate(CamelModel):
    """Which dead-lettered deliveries to send again; all of them when ``eventIds`` is absent."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"eventIds": ["3f1e2d4c-5b6a-4789-8abc-def012345678"]}]})

    event_ids: list[str] | None = Field(default=None, max_length=1000)


class ReplayRead(CamelModel):
    replayed: int = Field(description="How many dead-lettered deliveries are pending again.")
