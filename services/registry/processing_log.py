"""The processing log (Logboek Dataverwerkingen): one record per data subject per processing."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.auth import Principal
from services.registry import repository
from services.registry.context import NO_TRACE, RequestContext

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
    context: RequestContext | None,
    principal: Principal | None,
    action: str,
    registration_ids: Iterable[str],
) -> int:
    """Write the records in the caller's transaction (flushed with it); returns how many.

    ``context`` is None for work no request caused (the retention job, ``principal`` None too).
    A bulk import's many records go in one COPY on PostgreSQL (lmx_common.db.insert_rows)."""
    shared: tuple[Any, ...] = (
        context.trace_id if context is not None else NO_TRACE,
        context.transaction_id if context is not None else None,
        ACTIVITY_FOR_ACTION[action],
        action,
        principal.organisation_oin if principal else "system",
        principal.client_id if principal else "registry-retention-job",
        datetime.now(UTC),
    )
    rows = [(registration_id, *shared) for registration_id in registration_ids]
    await repository.insert_processing_log(session, rows)
    return len(rows)
