"""Request and response bodies of the event feed and the webhook subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lmx_common.pagination import PageLinks

_CAMEL = ConfigDict(populate_by_name=True)


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


class EventFeed(BaseModel):
    """Events after the cursor, oldest first. Poll ``next`` (also in ``_links``) for later events."""

    model_config = _CAMEL

    items: list[CloudEventRead]
    next: str = Field(description="Cursor to pass as `after`; unchanged when no new event was found.")
    links: PageLinks = Field(alias="_links")


class SubscriptionCreate(BaseModel):
    model_config = _CAMEL

    callback_url: str = Field(alias="callbackUrl", max_length=2000, examples=["https://example.nl/hooks/lmx"])
    event_types: list[str] = Field(alias="eventTypes", examples=[["certificate.status-changed"]])


class DeliveryState(BaseModel):
    """Counts of this subscription's deliveries per state, and what happens next."""

    model_config = _CAMEL

    pending: int
    delivered: int
    dead_lettered: int = Field(alias="deadLettered")
    failed_attempts: int = Field(alias="failedAttempts", description="Failed attempts over all deliveries.")
    last_error: str | None = Field(alias="lastError")
    last_attempt_at: datetime | None = Field(alias="lastAttemptAt")
    next_attempt_at: datetime | None = Field(alias="nextAttemptAt")


class SubscriptionRead(BaseModel):
    model_config = _CAMEL

    id: str
    callback_url: str = Field(alias="callbackUrl")
    event_types: list[str] = Field(alias="eventTypes")
    created_at: datetime = Field(alias="createdAt")
    delivery_state: DeliveryState = Field(alias="deliveryState")


class SubscriptionCreated(SubscriptionRead):
    """As a subscription, plus the signing secret: shown this once, keep it safe."""

    model_config = _CAMEL

    secret: str = Field(examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])


class SubscriptionList(BaseModel):
    items: list[SubscriptionRead]


class DeliveryRead(BaseModel):
    model_config = _CAMEL

    event_id: str = Field(alias="eventId")
    status: str = Field(examples=["pending", "delivered", "dead-lettered"])
    attempts: int
    next_attempt_at: datetime | None = Field(alias="nextAttemptAt")
    last_attempt_at: datetime | None = Field(alias="lastAttemptAt")
    last_status_code: int | None = Field(alias="lastStatusCode")
    last_error: str | None = Field(alias="lastError")
    delivered_at: datetime | None = Field(alias="deliveredAt")


class DeliveryList(BaseModel):
    model_config = _CAMEL

    items: list[DeliveryRead]
    links: PageLinks = Field(alias="_links")


class ReplayCreate(BaseModel):
    """Which dead-lettered deliveries to send again; all of them when ``eventIds`` is absent."""

    model_config = _CAMEL

    event_ids: list[str] | None = Field(default=None, alias="eventIds", max_length=1000)


class ReplayRead(BaseModel):
    model_config = _CAMEL

    replayed: int = Field(description="How many dead-lettered deliveries are pending again.")
