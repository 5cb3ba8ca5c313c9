"""The processing log (Logboek Dataverwerkingen): one record per data subject per processing."""

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

# Processing activities of the register of processing activities (activities.REGISTER), with their
# purpose ("why").
ACTIVITIES = activities.PURPOSES
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
    A request's records carry the processing activity it named (checked by activities.check).
    A bulk import's many records go in one COPY on PostgreSQL (lmx_common.db.insert_rows)."""
    activity = context.activity if context is not None and context.activity else ACTIVITY_FOR_ACTION[action]
    shared: tuple[Any, ...] = (
        context.trace_id if context is not None else child_of(None).trace_id,  # a job run: a trace of its own
        context.transaction_id if context is not None else None,
        activity,
        action,
        principal.organisation_oin if principal else RegistrySettings().organisation_oin,
        principal.client_id if principal else "registry-retention-job",
        datetime.now(UTC),
    )
    rows = [(registration_id, *shared) for registration_id in registration_ids]
    await repository.insert_processing_log(session, rows)
    return len(rows)
