"""Registrations: thin endpoints over services.registry.service."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse

from lmx_common.auth import CallerDep
from lmx_common.etag import SETS_ETAG, etag
from lmx_common.pagination import (
    DEFAULT_PAGE_SIZE,
    CursorQuery,
    PageSizeQuery,
    cursor_value,
    cut_page,
    links_after,
    page_links,
)
from lmx_common.problems import InvalidParam, ProblemError, invalid_input, problem_openapi_response
from lmx_common.routes import MAX_BODY_EXTENSION
from lmx_common.validation import MUNICIPALITY_CODE_PATTERN, PROVINCE_CODE_PATTERN
from services.registry import activities, bulk, fields, service
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
    REGISTRATION_CREATE_EXAMPLE,
    BsnSearch,
    BulkResult,
    DepartureCreate,
    ErasureRequest,
    FieldSet,
    MunicipalityPage,
    MunicipalityRead,
    ProcessingLogPage,
    RegistrationCreate,
    RegistrationPage,
    RegistrationRead,
    RestrictionRequest,
    SubjectAccessExport,
    SubjectAccessRequest,
)

router = APIRouter(prefix="/v1")
RegistrationId = Annotated[str, Path(alias="registrationId", description="The registration's id (a UUID).")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: problem_openapi_response("No such registration, or not visible to the caller.")
}
# Every person-level route: the processing activity (services/registry/activities.py, ADR 0024).
PERSON_LEVEL: dict[int | str, dict[str, Any]] = {
    403: problem_openapi_response(
        f"No {activities.HEADER} header (processing-activity-required), or an activity that does not cover "
        "this action for the caller's party type (processing-activity-not-allowed)."
    )
}
ACTIVITY_PARAMETER = {
    "parameters": [
        {
            "name": activities.HEADER,
            "in": "header",
            "required": True,
            "description": "The processing activity of this request, from the register of processing "
            "activities: " + ", ".join(n for n, a in activities.REGISTER.items() if a.party_types) + ".",
            "schema": {"type": "string", "enum": [n for n, a in activities.REGISTER.items() if a.party_types]},
        }
    ]
}
FieldSetQuery = Annotated[
    FieldSet,
    Query(
        alias="fields",
        description="summary (default: no BSN, date of birth, contact or address) or full (municipalities "
        "and information points only).",
    ),
]


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
    openapi_extra={**ACTIVITY_PARAMETER, **SETS_ETAG},
    responses={
        403: problem_openapi_response(
            "The caller may not register (this migrant), or names no processing activity that covers it."
        ),
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
    openapi_extra={**ACTIVITY_PARAMETER, **SETS_ETAG},
    responses={**NOT_FOUND, **PERSON_LEVEL},
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
        **SETS_ETAG,
        **ACTIVITY_PARAMETER,
        "requestBody": {
            "required": True,
            "content": {
                "application/merge-patch+json": {
                    "schema": {
                        "type": "object",
                        "description": "RFC 7386 merge patch of " + ", ".join(fields.PATCHABLE) + ".",
                    },
                    "example": {
                        "work": {"municipalityCode": "GM1655", "employerKvkNumber": "12345678"},
                        "expectedEndDate": "2026-12-31",
                    },
                }
            },
        },
    },
    responses={
        **NOT_FOUND,
        **PERSON_LEVEL,
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
    if_match: Annotated[
        str | None,
        Header(
            description="The ETag of the registration you read; a stale one is refused with 412, none with 428.",
            alias="If-Match",
        ),
    ] = None,
) -> JSONResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/merge-patch+json":
        raise ProblemError(
            415,
            "Send the change as application/merge-patch+json.",
            slug="unsupported-media-type",
            headers={"Accept-Patch": "application/merge-patch+json"},
        )
    registration = await service.load_for_update(session, context, registration_id)
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
    operation_id="recordDeparture",
    response_model=RegistrationRead,
    tags=["registrations"],
    summary="Record a departure (status becomes departed)",
    openapi_extra={**ACTIVITY_PARAMETER, **SETS_ETAG},
    responses={**NOT_FOUND, **PERSON_LEVEL, 409: problem_openapi_response("Departed already.")},
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
    summary="Registrations the caller may see, filtered (field set summary unless asked)",
    openapi_extra=ACTIVITY_PARAMETER,
    responses=PERSON_LEVEL,
)
async def list_registrations(
    request: Request,
    session: SessionDep,
    vault: VaultDep,
    principal: Reader,
    context: ContextDep,
    work_municipality_code: Annotated[
        str | None,
        Query(
            description="Only registrations that work in this municipality (CBS code, GM followed by 4 digits).",
            alias="workMunicipalityCode",
            pattern=MUNICIPALITY_CODE_PATTERN,
        ),
    ] = None,
    residence_municipality_code: Annotated[
        str | None,
        Query(
            description="Only registrations that live in this municipality (CBS code, GM followed by 4 digits).",
            alias="residenceMunicipalityCode",
            pattern=MUNICIPALITY_CODE_PATTERN,
        ),
    ] = None,
    status: Annotated[
        Literal["active", "departed"] | None, Query(description="Only active or only departed registrations.")
    ] = None,
    arrived_from: Annotated[
        date | None, Query(description="Only registrations that arrived on or after this date.", alias="arrivedFrom")
    ] = None,
    arrived_to: Annotated[
        date | None, Query(description="Only registrations that arrived on or before this date.", alias="arrivedTo")
    ] = None,
    page_size: PageSizeQuery = DEFAULT_PAGE_SIZE,
    cursor: CursorQuery = None,
    field_set: FieldSetQuery = "summary",
) -> JSONResponse:
    service.check_field_set_allowed(context, field_set)
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
    body = RegistrationPage(items=[service.to_item(r, vault, field_set) for r in page], links=links)
    return JSONResponse(body.model_dump(mode="json", by_alias=True), headers={"Cache-Control": "no-store"})


@router.post(
    "/registrations/search",
    operation_id="searchRegistrations",
    response_model=RegistrationPage,
    tags=["registrations"],
    summary="Find registrations by BSN (the BSN goes in the body, never in a URL; field set summary unless asked)",
    openapi_extra=ACTIVITY_PARAMETER,
    responses=PERSON_LEVEL,
)
async def search(
    request: Request,
    session: SessionDep,
    vault: VaultDep,
    principal: Reader,
    context: ContextDep,
    body: BsnSearch,
    field_set: FieldSetQuery = "summary",
) -> JSONResponse:
    service.check_field_set_allowed(context, field_set)
    rows = await service.search(session, context, body.bsn, vault)
    items = [service.to_item(r, vault, field_set) for r in rows]
    page = RegistrationPage(items=items, links=page_links(request, None))
    return JSONResponse(page.model_dump(mode="json", by_alias=True), headers={"Cache-Control": "no-store"})


_BULK_EXAMPLE_ROW = {
    "bsn": "111222333",
    "givenNames": "Anna Maria",
    "surname": "Kowalska",
    "dateOfBirth": "1994-05-17",
    "nationality": "PL",
    "registrationType": "rni",
    "channel": "desk",
    "residenceMunicipalityCode": "GM1655",
    "residenceHouseNumber": "12",
    "workMunicipalityCode": "GM1655",
    "employerKvkNumber": "12345678",
    "arrivalDate": "2026-03-01",
}
_BULK_CSV_EXAMPLE = (
    ",".join(bulk.CSV_COLUMNS) + "\n" + ",".join(_BULK_EXAMPLE_ROW.get(c, "") for c in bulk.CSV_COLUMNS) + "\n"
)
_BULK_NDJSON_EXAMPLE = json.dumps(REGISTRATION_CREATE_EXAMPLE) + "\n"


@router.post(
    "/registrations/bulk",
    operation_id="importRegistrations",
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
                        "description": "One registration (as in POST /registrations) per line, e.g.\n"
                        + _BULK_NDJSON_EXAMPLE,
                    },
                },
                "text/csv": {
                    "schema": {
                        "type": "string",
                        "description": "Header line with the columns: "
                        + ", ".join(bulk.CSV_COLUMNS)
                        + "; e.g.\n"
                        + _BULK_CSV_EXAMPLE,
                    },
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
    openapi_extra=ACTIVITY_PARAMETER,
    responses={
        **NOT_FOUND,
        403: problem_openapi_response(
            "Only auditors and the municipalities concerned (for their periods), with a processing activity "
            "that covers log-read."
        ),
    },
)
async def read_processing_log(
    request: Request,
    session: SessionDep,
    principal: Auditor,
    context: ContextDep,
    registration_id: Annotated[
        str | None, Query(description="Only the entries about this registration.", alias="registrationId")
    ] = None,
    page_size: PageSizeQuery = DEFAULT_PAGE_SIZE,
    cursor: CursorQuery = None,
) -> ProcessingLogPage:
    page, more = await service.read_log_page(session, context, registration_id, cursor, page_size)
    items = [service.log_entry(r) for r in page]
    return ProcessingLogPage(items=items, links=links_after(request, page, more, lambda r: {"id": r.id}))


# The data subject's rights (GDPR art. 15-18): the municipality concerned answers the person's request.
@router.post(
    "/subject-access-requests",
    operation_id="createSubjectAccessRequest",
    response_model=SubjectAccessExport,
    tags=["data subject's rights"],
    summary="Everything about one person (GDPR art. 15), found by BSN in the body",
    openapi_extra=ACTIVITY_PARAMETER,
    responses={
        **PERSON_LEVEL,
        404: problem_openapi_response("No registration of this BSN that the caller's municipality is concerned with."),
    },
)
async def subject_access_request(
    session: SessionDep, vault: VaultDep, principal: Reader, context: ContextDep, body: SubjectAccessRequest
) -> JSONResponse:
    export = await service.export_subject(session, context, body.bsn, vault)
    return JSONResponse(export.model_dump(mode="json", by_alias=True), headers={"Cache-Control": "no-store"})


@router.post(
    "/registrations/{registrationId}/erasure",
    operation_id="eraseRegistration",
    response_model=RegistrationRead,
    tags=["data subject's rights"],
    summary="Erase the person's data (GDPR art. 17); statistics are kept",
    openapi_extra={**ACTIVITY_PARAMETER, **SETS_ETAG},
    responses={**NOT_FOUND, **PERSON_LEVEL, 409: problem_openapi_response("Erased or anonymised already.")},
)
async def erase(
    session: SessionDep,
    vault: VaultDep,
    principal: Writer,
    context: ContextDep,
    registration_id: RegistrationId,
    body: ErasureRequest,
) -> JSONResponse:
    return _registration_response(await service.erase(session, context, registration_id, body), vault)


@router.post(
    "/registrations/{registrationId}/restriction",
    operation_id="restrictRegistration",
    response_model=RegistrationRead,
    tags=["data subject's rights"],
    summary="Restrict the processing (GDPR art. 18): hidden from all but the request's answer",
    openapi_extra={**ACTIVITY_PARAMETER, **SETS_ETAG},
    responses={**NOT_FOUND, **PERSON_LEVEL, 409: problem_openapi_response("Restricted already.")},
)
async def restrict(
    session: SessionDep,
    vault: VaultDep,
    principal: Writer,
    context: ContextDep,
    registration_id: RegistrationId,
    body: RestrictionRequest,
) -> JSONResponse:
    return _registration_response(await service.restrict(session, context, registration_id, body), vault)


@router.delete(
    "/registrations/{registrationId}/restriction",
    operation_id="liftRegistrationRestriction",
    response_model=RegistrationRead,
    tags=["data subject's rights"],
    summary="Lift a restriction of the processing",
    openapi_extra={**ACTIVITY_PARAMETER, **SETS_ETAG},
    responses={**NOT_FOUND, **PERSON_LEVEL, 409: problem_openapi_response("Not restricted.")},
)
async def lift_restriction(
    session: SessionDep, vault: VaultDep, principal: Writer, context: ContextDep, registration_id: RegistrationId
) -> JSONResponse:
    return _registration_response(await service.lift_restriction(session, context, registration_id), vault)


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
    province_code: Annotated[
        str | None,
        Query(
            description="Only municipalities in this province (CBS code, PV followed by 2 digits).",
            alias="provinceCode",
            pattern=PROVINCE_CODE_PATTERN,
        ),
    ] = None,
    page_size: PageSizeQuery = DEFAULT_PAGE_SIZE,
    cursor: CursorQuery = None,
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
    session: SessionDep,
    _principal: CallerDep,
    code: Annotated[
        str,
        Path(description="The municipality's CBS code (GM followed by 4 digits).", pattern=MUNICIPALITY_CODE_PATTERN),
    ],
) -> MunicipalityRead:
    municipality = await service.get_municipality(session, code)
    if municipality is None:
        raise ProblemError(404, f"No municipality {code} in the current list.", slug="not-found")
    return MunicipalityRead.model_validate(municipality)
