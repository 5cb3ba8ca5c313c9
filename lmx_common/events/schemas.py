"""Request and response bodies of the event feed and the webhook subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lmx_common.pagination import EXAMPLE_CURSOR, Page, PageLinks, page_example
from lmx_common.schemas import CamelModel, examples

EVENT_EXAMPLE: dict[str, Any] = {
    "specversion": "1.0",
    "id": "0b9f6a0e-5a55-4bd1-9f38-3cbb1e3a4a43",
    "source": "urn:lmx:certification",
    "type": "certificate.status-changed",
    "subject": "certificates/5d1c7a52-3e8b-4a8f-9d3c-2f6b1e0a9c47",
    "time": "2026-02-01T10:02:11.204000+00:00",
    "datacontenttype": "application/json",
    "data": {
        "certificateId": "5d1c7a52-3e8b-4a8f-9d3c-2f6b1e0a9c47",
        "kvkNumber": "81234567",
        "scheme": "snf-housing",
        "previousStatus": "granted",
        "status": "suspended",
        "effectiveDate": "2026-02-01",
    },
}
DELIVERY_STATE_EXAMPLE: dict[str, Any] = {
    "pending": 1,
    "delivered": 214,
    "deadLettered": 0,
    "failedAttempts": 2,
    "lastError": "HTTP 503 from the callback",
    "lastAttemptAt": "2026-02-01T10:02:12.031000+00:00",
    "nextAttemptAt": "2026-02-01T10:02:42.031000+00:00",
}
SUBSCRIPTION_EXAMPLE: dict[str, Any] = {
    "id": "9a4e1f7c-2b3d-4c5e-8f60-718293a4b5c6",
    "callbackUrl": "https://example.nl/hooks/lmx",
    "eventTypes": ["certificate.status-changed"],
    "createdAt": "2026-01-15T08:30:00+00:00",
    "deliveryState": DELIVERY_STATE_EXAMPLE,
}
DELIVERY_EXAMPLE: dict[str, Any] = {
    "eventId": "0b9f6a0e-5a55-4bd1-9f38-3cbb1e3a4a43",
    "status": "delivered",
    "attempts": 1,
    "nextAttemptAt": None,
    "lastAttemptAt": "2026-02-01T10:02:12.031000+00:00",
    "lastStatusCode": 204,
    "lastError": None,
    "deliveredAt": "2026-02-01T10:02:12.031000+00:00",
}


class CloudEventRead(BaseModel):
    """A CloudEvents 1.0 event in structured JSON. ``data`` carries ids, codes and statuses only."""

    model_config = ConfigDict(json_schema_extra=examples(EVENT_EXAMPLE))

    specversion: str = Field(examples=["1.0"])
    id: str = Field(examples=["0b9f6a0e-5a55-4bd1-9f38-3cbb1e3a4a43"])
    source: str = Field(examples=["urn:lmx:certification"])
    type: str = Field(examples=["certificate.status-changed"])
    subject: str | None = Field(default=None, examples=["certificates/5d1c7a52-3e8b-4a8f-9d3c-2f6b1e0a9c47"])
    time: datetime
    datacontenttype: str = Field(examples=["application/json"])
    data: dict[str, Any]


class EventFeed(CamelModel):
    """Events after the cursor, oldest first. Poll ``next`` (also in ``_links``) for later events."""

    model_config = ConfigDict(
        json_schema_extra=examples(
            {
                "items": [EVENT_EXAMPLE],
                "next": EXAMPLE_CURSOR,
                "_links": {
                    "self": {"href": "/certification/v1/events?limit=100"},
                    "next": {"href": f"/certification/v1/events?after={EXAMPLE_CURSOR}&limit=100"},
                },
            }
        )
    )

    items: list[CloudEventRead]
    next: str = Field(description="Cursor to pass as `after`; unchanged when no new event was found.")
    links: PageLinks = Field(alias="_links")


class SubscriptionCreate(CamelModel):
    model_config = ConfigDict(
        json_schema_extra=examples(
            {"callbackUrl": "https://example.nl/hooks/lmx", "eventTypes": ["certificate.status-changed"]}
        )
    )

    callback_url: str = Field(max_length=2000, examples=["https://example.nl/hooks/lmx"])
    event_types: list[str] = Field(examples=[["certificate.status-changed"]])


class DeliveryState(CamelModel):
    """Counts of this subscription's deliveries per state, and what happens next."""

    model_config = ConfigDict(json_schema_extra=examples(DELIVERY_STATE_EXAMPLE))

    pending: int
    delivered: int
    dead_lettered: int
    failed_attempts: int = Field(description="Failed attempts over all deliveries.")
    last_error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None


class SubscriptionRead(CamelModel):
    model_config = ConfigDict(json_schema_extra=examples(SUBSCRIPTION_EXAMPLE))

    id: str
    callback_url: str
    event_types: list[str]
    created_at: datetime
    delivery_state: DeliveryState


class SubscriptionCreated(SubscriptionRead):
    """As a subscription, plus the signing secret: shown this once, keep it safe."""

    model_config = ConfigDict(
        json_schema_extra=examples({**SUBSCRIPTION_EXAMPLE, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
    )

    secret: str = Field(examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])


class SubscriptionList(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples({"items": [SUBSCRIPTION_EXAMPLE]}))

    items: list[SubscriptionRead]


class DeliveryRead(CamelModel):
    model_config = ConfigDict(json_schema_extra=examples(DELIVERY_EXAMPLE))

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

    model_config = ConfigDict(
        json_schema_extra=examples(
            page_example(
                "/certification/v1/subscriptions/9a4e1f7c-2b3d-4c5e-8f60-718293a4b5c6/deliveries", DELIVERY_EXAMPLE
            )
        )
    )


class ReplayCreate(CamelModel):
    """Which dead-lettered deliveries to send again; all of them when ``eventIds`` is absent."""

    model_config = ConfigDict(json_schema_extra=examples({"eventIds": ["3f1e2d4c-5b6a-4789-8abc-def012345678"]}))

    event_ids: list[str] | None = Field(default=None, max_length=1000)


class ReplayRead(CamelModel):
    model_config = ConfigDict(json_schema_extra=examples({"replayed": 3}))

    replayed: int = Field(description="How many dead-lettered deliveries are pending again.")
