"""The processing log (Logboek Dataverwerkingen): one record per data subject per processing."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from lmx_common.auth import Principal
from services.registry.models import ProcessingLogRecord

# Processing activities of the register of processing activities, with their purpose ("why").
ACTIVITIES = {
    "lmx-registration": "Registering labour migrants to know where they work and live (housing task).",
    "lmx-consultation": "Consulting registrations for the municipality's housing and care duties.",
    "lmx-retention": "Anonymising departed registrations after the retention period.",
}
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
    request: Request | None,
    principal: Principal | None,
    action: str,
    registration_ids: Iterable[str],
) -> int:
    """Write the records in the caller's transaction (flushed with it); returns how many."""
    state = request.state if request is not None else None
    trace = getattr(state, "trace", None)
    now = datetime.now(UTC)
    rows = [
        {
            "registration_id": registration_id,
            "trace_id": trace.trace_id if trace is not None else "0" * 32,
            "transaction_id": getattr(state, "transaction_id", None),
            "activity": ACTIVITY_FOR_ACTION[action],
            "action": action,
            "organisation_oin": principal.organisation_oin if principal else "system",
            "client_id": principal.client_id if principal else "registry-retention-job",
            "occurred_at": now,
        }
        for registration_id in registration_ids
    ]
    if rows:
        await session.execute(insert(ProcessingLogRecord), rows)
    return len(rows)
