"""Registrations: thin endpoints over services.registry.service."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse

from lmx_common.auth import CallerDep
from lmx_common.etag import etag
from lmx_common.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, cursor_value, cut_page, links_after, page_links
from lmx_common.problems import InvalidParam, ProblemError, invalid_input, problem_openapi_response
from lmx_common.routes import MAX_BODY_EXTENSION
from services.registry import bulk, fields, processing_log, service
from services.registry.config import MAX_BULK_BODY_BYTES
from services.registry.dependencies import (
    Auditor,
    ContextDep,
    DatabaseDep,
    Reader,
    SessionDep,
    SettingsDep,
    VaultDep,
    Writer,
)
from services.registry.idempotency import body_hash
from services.registry.models import Registration
from services.registry.schemas import (
    BsnSearch,
    BulkResult,
    DepartureCreate,
    MunicipalityPage,
    MunicipalityRead,
    ProcessingLogEntry,
    ProcessingLogPage,
    RegistrationCreate,
    RegistrationPage,
    RegistrationRead,
)

router = APIRouter(prefix="/v1")
RegistrationId = Annotated[str, Path(alias="registrationId", description="The registration's id (a UUID).")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: problem_openapi_response("No such registration, or not visible to the caller.")
}


def _location(request: Request, registration_id: str) -> str:
    return request.headers.get("x-forwarded-prefix", "") + f"/v1/registrations/{registration_id}"


def _registration_response(
    registration: Registration, vault: Any, status: int = 200, location: str | None = None
) -> JSONResponse:
    headers = {"ETag": etag(registration.version), "Cache-Control": "no-store"}
    if location:
        headers["Location"] = location
    body = service.to_read(registration, vault).model_dump(mode="json", by_alias=True)
    return JSONResponse(body, status_code=status, headers=headers)


@router.post(
    "/registrations",
    status_code=201,
    response_model=RegistrationRead,
    tags=["registrations"],
    summary="Register a labour migrant",
    responses={
        403: problem_openapi_response("The caller may not register (this migrant)."),
        409: problem_openapi_response(
            "An active registration for this BSN exists, or the same Idempotency-Key is in flight."
        ),
        422: problem_openapi_response("The Idempotency-Key was used with another body."),
    },
)
async def create_registration(
    request: Request,
    session: SessionDep,
    vault: VaultDep,
    database: DatabaseDep,
    principal: Writer,
    context: ContextDep,
    body: RegistrationCreate,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Makes a retry safe: same key and body, same answer and one registration.",
        ),
    ] = None,
) -> JSONResponse:
    idempotent = None
    if idempotency_key is not None:
        idempotent = service.Idempotent(database, idempotency_key, body_hash(await request.body()))
    registration = await service.create(session, context, body, vault, idempotent)
    return _registration_response(registration, vault, 201, _location(request, registration.id))


@router.get(
    "/registrations/{registrationId}",
    response_model=RegistrationRead,
    tags=["registrations"],
    summary="One registration",
    responses=NOT_FOUND,
)
async def get_registration(
    session: SessionDep, vault: VaultDep, principal: Reader, context: ContextDep, registration_id: RegistrationId
) -> JSONResponse:
    registration = await service.read(session, context, registration_id)
    return _registration_response(registration, vault)


@router.patch(
    "/registrations/{registrationId}",
    response_model=RegistrationRead,
    tags=["registrations"],
    summary="Change a registration (JSON merge patch)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/merge-patch+json": {
                    "schema": {
                        "type": "object",
                        "description": "RFC 7386 merge patch of " + ", ".join(fields.PATCHABLE) + ".",
                    }
                }
            },
        }
    },
    responses={
        **NOT_FOUND,
        412: problem_openapi_response("If-Match does not match the current ETag."),
        415: problem_openapi_response("Use application/merge-patch+json."),
        428: problem_openapi_response("If-Match is required."),
    },
)
async def patch_registration(
    request: Request,
    session: SessionDep,
    vault: VaultDep,
    principal: Writer,
    context: ContextDep,
    registration_id: RegistrationId,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> JSONResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/merge-patch+json":
        raise ProblemError(415, "Send the change as application/merge-patch+json.", slug="unsupported-media-type")
    registration = await service.get_visible(session, principal, registration_id, for_update=True)
    service.check_precondition(registration, if_match)
    try:
        patch = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise invalid_input([InvalidParam("body", "not JSON this service accepts", "json", "body")]) from exc
    if not isinstance(patch, dict):
        raise invalid_input([InvalidParam("body", "a merge patch is a JSON object", "type", "body")])
    registration = await service.update(session, context, registration, patch, vault)
    return _registration_response(registration, vault)


@router.post(
    "/registrations/{registrationId}/departure",
    response_model=RegistrationRead,
    tags=["registrations"],
    summary="Record a departure (status becomes departed)",
    responses={**NOT_FOUND, 409: problem_openapi_response("Departed already.")},
)
async def depart(
    session: SessionDep,
    vault: VaultDep,
    principal: Writer,
    context: ContextDep,
    registration_id: RegistrationId,
    body: DepartureCreate,
) -> JSONResponse:
    registration = await service.depart(session, context, registration_id, body)
    return _registration_response(registration, vault)


@router.get(
    "/registrations",
    response_model=RegistrationPage,
    tags=["registrations"],
    summary="Registrations the caller may see, filtered",
)
async def list_registrations(
    request: Request,
    session: SessionDep,
    vault: VaultDep,
    principal: Reader,
    context: ContextDep,
    work_municipality_code: Annotated[str | None, Query(alias="workMunicipalityCode", pattern=r"^GM\d{4}$")] = None,
    residence_municipality_code: Annotated[
        str | None, Query(alias="residenceMunicipalityCode", pattern=r"^GM\d{4}$")
    ] = None,
    status: Annotated[Literal["active", "departed"] | None, Query()] = None,
    arrived_from: Annotated[date | None, Query(alias="arrivedFrom")] = None,
    arrived_to: Annotated[date | None, Query(alias="arrivedTo")] = None,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    after = cursor_value(cursor, "id")
    page, more = await service.list_visible(
        session,
        context,
        work_municipality_code=work_municipality_code,
        residence_municipality_code=residence_municipality_code,
        status=status,
        arrived_from=arrived_from,
        arrived_to=arrived_to,
        after_id=after,
        page_size=page_size,
    )
    links = links_after(request, page, more, lambda r: {"id": r.id})
    body = RegistrationPage(items=[service.to_read(r, vault) for r in page], links=links)
    return JSONResponse(body.model_dump(mode="json", by_alias=True), headers={"Cache-Control": "no-store"})


@router.post(
    "/registrations/search",
    response_model=RegistrationPage,
    tags=["registrations"],
    summary="Find registrations by BSN (the BSN goes in the body, never in a URL)",
)
async def search(
    request: Request, session: SessionDep, vault: VaultDep, principal: Reader, context: ContextDep, body: BsnSearch
) -> JSONResponse:
    rows = await service.search(session, context, body.bsn, vault)
    page = RegistrationPage(items=[service.to_read(r, vault) for r in rows], links=page_links(request, None))
    return JSONResponse(page.model_dump(mode="json", by_alias=True), headers={"Cache-Control": "no-store"})


@router.post(
    "/registrations/bulk",
    response_model=BulkResult,
    tags=["registrations"],
    summary="Import many registrations (NDJSON or CSV): a result per line",
    openapi_extra={
        MAX_BODY_EXTENSION: MAX_BULK_BODY_BYTES,  # what the gateway forwards to this route
        "requestBody": {
            "required": True,
            "content": {
                "application/x-ndjson": {
                    "schema": {
                        "type": "string",
                        "description": "One registration (as in POST /registrations) per line.",
                    }
                },
                "text/csv": {
                    "schema": {
                        "type": "string",
                        "description": "Header line with the columns: " + ", ".join(bulk.CSV_COLUMNS),
                    }
                },
            },
        },
    },
    responses={
        413: problem_openapi_response(
            "More lines or bytes than one request may carry (answered as soon as the body exceeds either)."
        ),
        415: problem_openapi_response("Use application/x-ndjson or text/csv."),
    },
)
async def bulk_import(
    request: Request,
    session: SessionDep,
    vault: VaultDep,
    principal: Writer,
    context: ContextDep,
    settings: SettingsDep,
) -> JSONResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/x-ndjson", "text/csv"):
        raise ProblemError(415, "Send application/x-ndjson or text/csv.", slug="unsupported-media-type")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.max_bulk_bytes:
        raise bulk.too_many_bytes(settings.max_bulk_bytes)  # before reading any of it
    lines = await bulk.read_lines(
        request.stream(), content_type, max_lines=settings.max_bulk_lines, max_bytes=settings.max_bulk_bytes
    )
    return JSONResponse(await service.bulk_create(session, context, lines, vault))


@router.get(
    "/processing-log",
    response_model=ProcessingLogPage,
    tags=["processing log"],
    summary="Who saw or changed this person's data, when, and why",
    responses={**NOT_FOUND, 403: problem_openapi_response("Only auditors and the municipality concerned.")},
)
async def read_processing_log(
    request: Request,
    session: SessionDep,
    principal: Auditor,
    registration_id: Annotated[str | None, Query(alias="registrationId")] = None,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query()] = None,
) -> ProcessingLogPage:
    if registration_id is None:
        raise invalid_input([InvalidParam("registrationId", "a query needs a registration id", "required", "query")])
    await service.check_may_read_log(session, principal, registration_id)
    after = cursor_value(cursor, "id", int) or 0
    page, more = await service.processing_log_page(session, registration_id, after, page_size)
    items = [
        ProcessingLogEntry(
            registration_id=r.registration_id,
            occurred_at=r.occurred_at,
            action=r.action,
            activity=r.activity,
            purpose=processing_log.ACTIVITIES[r.activity],
            organisation_oin=r.organisation_oin,
            client_id=r.client_id,
            trace_id=r.trace_id,
        )
        for r in page
    ]
    return ProcessingLogPage(items=items, links=links_after(request, page, more, lambda r: {"id": r.id}))


# Reference data: every authenticated caller.
@router.get(
    "/municipalities",
    response_model=MunicipalityPage,
    response_model_by_alias=True,
    tags=["reference"],
    summary="Municipalities of the reference list in force",
)
async def list_municipalities(
    request: Request,
    session: SessionDep,
    _principal: CallerDep,
    province_code: Annotated[str | None, Query(alias="provinceCode", pattern=r"^PV\d{2}$")] = None,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query()] = None,
) -> MunicipalityPage:
    after = cursor_value(cursor, "code")
    rows = await service.list_municipalities(session, province_code, after, page_size + 1)
    page, links = cut_page(request, rows, page_size, lambda r: {"code": r.code})
    return MunicipalityPage(items=[MunicipalityRead.model_validate(r) for r in page], links=links)


@router.get(
    "/municipalities/{code}",
    response_model=MunicipalityRead,
    tags=["reference"],
    summary="One municipality",
    responses={404: problem_openapi_response("Unknown code.")},
)
async def get_municipality(
    session: SessionDep, _principal: CallerDep, code: Annotated[str, Path(pattern=r"^GM\d{4}$")]
) -> MunicipalityRead:
    municipality = await service.get_municipality(session, code)
    if municipality is None:
        raise ProblemError(404, f"No municipality {code} in the current list.", slug="not-found")
    return MunicipalityRead.model_validate(municipality)
