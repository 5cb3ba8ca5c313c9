"""The processing log's proof (ADR 0023): signed checkpoints, their public key, and the export in the
shape of Logboek Dataverwerkingen."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from lmx_common.auth import CallerDep, Principal, require_scopes
from lmx_common.pagination import (
    DEFAULT_PAGE_SIZE,
    CursorQuery,
    PageSizeQuery,
    cursor_value,
    links_after,
)
from lmx_common.problems import problem_openapi_response
from lmx_common.scopes import Scope
from services.registry import audit, processing_log, service
from services.registry.audit_schemas import Checkpoint, CheckpointPage, LogboekPage, PublicKeySet
from services.registry.config import VERSION
from services.registry.dependencies import Auditor, ContextDep, DatabaseDep, SessionDep, SettingsDep

router = APIRouter(prefix="/v1/processing-log", tags=["processing log"])
AuditReader = Annotated[Principal, Depends(require_scopes(Scope.AUDIT_READ))]


@lru_cache(maxsize=4)
def _key(setting: str) -> audit.AuditKey:
    return audit.AuditKey.from_setting(setting)


@router.get(
    "/checkpoints",
    operation_id="listProcessingLogCheckpoints",
    response_model=CheckpointPage,
    summary="Signed checkpoints of the processing log's hash chain (count, head hash, signature)",
)
async def list_checkpoints(
    request: Request,
    session: SessionDep,
    database: DatabaseDep,
    settings: SettingsDep,
    principal: AuditReader,
    page_size: PageSizeQuery = DEFAULT_PAGE_SIZE,
    cursor: CursorQuery = None,
) -> CheckpointPage:
    # Seal first, in its own transaction, so the newest committed records are in the chain and a
    # checkpoint that is due is there to read.
    await audit.seal_all(database, settings)
    after = cursor_value(cursor, "count", int) or 0
    rows = await audit.checkpoints(session, after, page_size + 1)
    page, more = rows[:page_size], len(rows) > page_size
    items = [Checkpoint.model_validate(audit.checkpoint_document(c)) for c in page]
    return CheckpointPage(items=items, links=links_after(request, page, more, lambda c: {"count": c.seq}))


@router.get(
    "/checkpoints/public-key",
    operation_id="getCheckpointPublicKey",
    response_model=PublicKeySet,
    summary="The public key that verifies the checkpoints (JWK set, Ed25519); any valid token",
)
async def public_key(settings: SettingsDep, caller: CallerDep) -> dict[str, Any]:
    return {"keys": [_key(settings.audit_signing_key).jwk()]}


@router.get(
    "/export",
    operation_id="exportProcessingLog",
    response_model=LogboekPage,
    summary="A person's processing log in the fields of Logboek Dataverwerkingen",
    responses={
        404: problem_openapi_response("No such registration, or not visible to the caller."),
        403: problem_openapi_response("Only auditors and the municipality concerned."),
    },
)
async def export(
    request: Request,
    session: SessionDep,
    principal: Auditor,
    context: ContextDep,
    registration_id: Annotated[
        str | None, Query(description="The registration whose processing log to export.", alias="registrationId")
    ] = None,
    page_size: PageSizeQuery = DEFAULT_PAGE_SIZE,
    cursor: CursorQuery = None,
) -> LogboekPage:
    page, more = await service.read_log_page(session, context, registration_id, cursor, page_size)
    items = [processing_log.logboek_record(r, VERSION) for r in page]
    return LogboekPage.model_validate(
        {"items": items, "_links": links_after(request, page, more, lambda r: {"id": r.id})}
    )
