"""The processing log (Logboek Dataverwerkingen): one record per data subject per processing.

Records are written with the processing, in its transaction, and nothing more: the hash chain and
the signed checkpoints are made afterwards by the sealer (services/registry/audit.py, ADR 0023)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.auth import Principal
from lmx_common.tracing import child_of
from services.registry import activities, repository
from services.registry.config import RegistrySettings
from services.registry.context import RequestContext
from services.registry.models import ProcessingLogRecord

# Processing activities of the register of processing activities (activities.REGISTER), with their
# purpose ("why").
ACTIVITIES = activities.PURPOSES
# Logboek Dataverwerkingen status_code: a record is written only with a processing that commits.
STATUS_OK = 1
STATUS_NAMES = {0: "STATUS_CODE_UNSET", 1: "STATUS_CODE_OK", 2: "STATUS_CODE_ERROR"}
ACTIVITY_FOR_ACTION = {
    "create": "lmx-registration",
    "update": "lmx-registration",
    "depart": "lmx-registration",
    "read": "lmx-consultation",
    "list": "lmx-consultation",
    "search": "lmx-consultation",
    "anonymise": "lmx-retention",
}


async def record(
    session: AsyncSession,
    context: RequestContext | None,
    principal: Principal | None,
    action: str,
    registration_ids: Iterable[str],
) -> int:
    """Write the records in the caller's transaction (flushed with it); returns how many.

    ``context`` is None for work no request caused (the retention job, ``principal`` None too): it is
    logged with the registry's own organisation (REGISTRY_ORGANISATION_OIN) and a new trace per call.
    A request's records carry the processing activity it named (checked by activities.check), else
    the action's default. A bulk import's many records go in one COPY on PostgreSQL
    (lmx_common.db.insert_rows)."""
    now = datetime.now(UTC)
    activity = context.activity if context is not None and context.activity else ACTIVITY_FOR_ACTION[action]
    shared: tuple[Any, ...] = (
        context.trace_id if context is not None else child_of(None).trace_id,  # a job run: a trace of its own
        context.transaction_id if context is not None else None,
        activity,
        action,
        principal.organisation_oin if principal else RegistrySettings().organisation_oin,
        principal.client_id if principal else "registry-retention-job",
        now,
        context.span_id if context is not None else None,
        context.parent_span_id if context is not None else None,
        context.foreign_span_id if context is not None else None,
        STATUS_OK,
        (context.started_at if context is not None else None) or now,
    )
    rows = [(registration_id, *shared) for registration_id in registration_ids]
    await repository.insert_processing_log(session, rows)
    return len(rows)


# Export in the shape of Logboek Dataverwerkingen (Logius/MinBZK, "Component: Logboek", interface
# fields; docs/decisions/0023). The standard's field names are kept as they are (snake_case).
SERVICE_NAME = "lmx-registry"
DATA_SUBJECT_ID_TYPE = "urn:lmx:registration-id"  # a registration id, not a BSN: the subject's pseudonymous key


def processing_activity_uri(activity: str) -> str:
    return f"urn:lmx:processing-activity:{activity}"


def organisation_uri(oin: str) -> str:
    return f"urn:oin:{oin}"


def _millis(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def logboek_record(record: ProcessingLogRecord, service_version: str) -> dict[str, Any]:
    """One record as the standard's interface names it. ``foreign_operation`` is the calling
    organisation's own operation (its traceparent's span, passed on by the gateway): with it, and
    the trace id the gateway continued, the organisation joins its log to ours."""
    foreign = None
    if record.foreign_span_id:
        foreign = {
            "trace_id": record.trace_id,
            "span_id": record.foreign_span_id,
            "entity": organisation_uri(record.organisation_oin),
        }
    return {
        "trace_id": record.trace_id,
        "span_id": record.span_id,
        "parent_span_id": record.parent_span_id,
        "name": f"registry.{record.action}",
        "status_code": STATUS_NAMES.get(
            record.status_code if record.status_code is not None else 0, "STATUS_CODE_UNSET"
        ),
        "start_time": _millis(record.started_at or record.occurred_at),
        "end_time": _millis(record.occurred_at),
        "foreign_operation": foreign,
        "resource": {"attributes": {"service.name": SERVICE_NAME, "service.version": service_version}},
        "attributes": {
            "dpl.core.processing_activity_id": processing_activity_uri(record.activity),
            "dpl.core.data_subject_id": record.registration_id,
            "dpl.core.data_subject_id_type": DATA_SUBJECT_ID_TYPE,
            "lmx.organisation_oin": record.organisation_oin,
            "lmx.client_id": record.client_id,
            "lmx.transaction_id": record.transaction_id,
            "lmx.chain.seq": record.seq,
            "lmx.chain.hash": record.hash,
        },
    }
