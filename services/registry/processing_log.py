"""The processing log (Logboek Dataverwerkingen): one record per data subject per processing."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from lmx_common.auth import Principal
from lmx_common.db import insert_rows
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
    """Write the records in the caller's transaction (flushed with it); returns how many.

    A bulk import's many records go in one COPY on PostgreSQL (lmx_common.db.insert_rows)."""
    state = request.state if request is not None else None
    trace = getattr(state, "trace", None)
    shared: tuple[Any, ...] = (
        trace.trace_id if trace is not None else "0" * 32,
        getattr(state, "transaction_id", None),
        ACTIVITY_FOR_ACTION[action],
        action,
        principal.organisation_oin if principal else "system",
        principal.client_id if principal else "registry-retention-job",
        datetime.now(UTC),
    )
    rows = [(registration_id, *shared) for registration_id in registration_ids]
    await insert_rows(session, cast(Table, ProcessingLogRecord.__table__), _COLUMNS, rows)
    return len(rows)


_COLUMNS = (
    "registration_id",
    "trace_id",
    "transaction_id",
    "activity",
    "action",
    "organisation_oin",
    "client_id",
    "occurred_at",
)
