"""The events this service publishes. Data: ids, codes and statuses only, never personal data.

- ``certificate.status-changed``: certificateId, kvkNumber, scheme, previousStatus, status,
  effectiveDate, validUntil, changedBy (``certifier`` or ``system``).
- ``report.created``: reportId, kvkNumber, housingLocationId, municipalityCode, category, status.
- ``report.status-changed``: reportId, kvkNumber, municipalityCode, previousStatus, status, date.
"""

from __future__ import annotations

from lmx_common.events import EventModels
from services.certification.models import Delivery, FeedState, OutboxEvent, Subscription

CERTIFICATE_STATUS_CHANGED = "certificate.status-changed"
REPORT_CREATED = "report.created"
REPORT_STATUS_CHANGED = "report.status-changed"

EVENTS = EventModels(
    outbox=OutboxEvent,
    feed_state=FeedState,
    subscription=Subscription,
    delivery=Delivery,
    source="urn:lmx:certification",
    event_types=(CERTIFICATE_STATUS_CHANGED, REPORT_CREATED, REPORT_STATUS_CHANGED),
)
