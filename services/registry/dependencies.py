from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.auth import CallerDep, Principal, require_scopes
from lmx_common.db import Database, request_session
from lmx_common.scopes import Scope
from lmx_common.tracing import CALLER_SPAN_HEADER, span_id_or_none
from services.registry.activities import HEADER as ACTIVITY_HEADER
from services.registry.config import RegistrySettings
from services.registry.context import NO_TRACE, RequestContext
from services.registry.crypto import BsnVault

SessionDep = Annotated[AsyncSession, Depends(request_session, scope="function")]

# The scopes of the registry's endpoints.
Reader = Annotated[Principal, Depends(require_scopes(Scope.REGISTRY_READ))]
Writer = Annotated[Principal, Depends(require_scopes(Scope.REGISTRY_WRITE))]
Auditor = Annotated[Principal, Depends(require_scopes(Scope.AUDIT_READ, Scope.REGISTRY_READ))]
Statistician = Annotated[Principal, Depends(require_scopes(Scope.REGISTRY_STATISTICS))]


async def get_vault(request: Request) -> BsnVault:
    vault: BsnVault = request.app.state.vault
    return vault


async def get_settings(request: Request) -> RegistrySettings:
    settings: RegistrySettings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_context(request: Request, principal: CallerDep) -> RequestContext:
    """The caller with the request's trace and transaction ids (set by the kit's middleware), the
    calling organisation's span (CALLER_SPAN_HEADER, set by the gateway) for the processing log, and
    the processing activity it names (checked by the service against the action, activities.check)."""
    state = request.state
    trace = getattr(state, "trace", None)
    activity = request.headers.get(ACTIVITY_HEADER, "").strip()
    return RequestContext(
        principal=principal,
        trace_id=trace.trace_id if trace is not None else NO_TRACE,
        transaction_id=getattr(state, "transaction_id", None),
        span_id=trace.span_id if trace is not None else None,
        parent_span_id=trace.parent_span_id if trace is not None else None,
        foreign_span_id=span_id_or_none(request.headers.get(CALLER_SPAN_HEADER)),
        started_at=datetime.now(UTC),
        activity=activity[:60] or None,
    )


VaultDep = Annotated[BsnVault, Depends(get_vault)]
SettingsDep = Annotated[RegistrySettings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
ContextDep = Annotated[RequestContext, Depends(get_context)]
