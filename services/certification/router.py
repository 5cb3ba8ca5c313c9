"""Thin endpoints: parse, call the service, shape the response."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from lmx_common import problems
from lmx_common.app import NO_LOCATION
from lmx_common.auth import current_principal
from lmx_common.etag import SETS_ETAG, etag
from lmx_common.pagination import cursor_value, cut_page
from lmx_common.problems import problem_openapi_response
from lmx_common.validation import KVK_NUMBER_PATTERN, MUNICIPALITY_CODE_PATTERN
from services.certification import idempotency, repository, service
from services.certification.dependencies import (
    CertificateIdPath,
    IdempotencyKeyHeader,
    IfMatchHeader,
    KvkPath,
    ReaderDep,
    ReportIdPath,
    ReportReaderDep,
    ReportWriterDep,
    SessionDep,
    SettingsDep,
    SummaryReaderDep,
    WriterDep,
)
from services.certification.models import (
    Certificate,
    CertificateStatusChange,
    Organisation,
    Report,
    ReportNote,
)
from services.certification.schemas import (
    Actor,
    CategoryCount,
    CertificateCreate,
    CertificateList,
    CertificateRead,
    CertificateStatus,
    DisclosedCount,
    OrganisationCreate,
    OrganisationKind,
    OrganisationList,
    OrganisationRead,
    OrganisationStatus,
    ReportCreate,
    ReportList,
    ReportListItem,
    ReportNoteCreate,
    ReportNoteRead,
    ReportRead,
    ReportStatus,
    ReportSummary,
    SchemeCode,
    SchemeList,
    SchemeRead,
    SchemeStatus,
    StatusChangeCreate,
    StatusChangeList,
    StatusChangeRead,
    StatusCount,
)

router = APIRouter(prefix="/v1", dependencies=[Depends(current_principal)])

PageSize = Annotated[
    int, Query(description="How many items per page (at most the maximum shown).", alias="pageSize", ge=1, le=500)
]
Cursor = Annotated[str | None, Query(description="The `next` cursor of the previous page.")]


def _problems(*pairs: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    return {code: problem_openapi_response(text) for code, text in pairs}


IDEMPOTENCY = (
    (409, "A request with the same Idempotency-Key is still in progress."),
    (422, "The Idempotency-Key was used with another request."),
)


def _after(cursor: str | None) -> str | None:
    return cursor_value(cursor, "k")


@router.get("/schemes", response_model=SchemeList, tags=["reference"], summary="Certification schemes")
async def list_schemes(session: SessionDep) -> SchemeList:
    rows = await repository.schemes(session)
    return SchemeList(items=[SchemeRead.model_validate(r) for r in rows])


# Organisations.


@router.post(
    "/organisations",
    status_code=status.HTTP_201_CREATED,
    response_model=OrganisationRead,
    tags=["organisations"],
    summary="Record an organisation (certifiers)",
    responses=_problems((409, "Already recorded, or the same Idempotency-Key is in progress."), IDEMPOTENCY[1]),
)
async def create_organisation(
    body: OrganisationCreate,
    caller: WriterDep,
    session: SessionDep,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> OrganisationRead:
    async def create() -> tuple[str, Organisation]:
        row = await service.create_organisation(session, caller, body)
        return row.kvk_number, row

    async def replay(kvk_number: str) -> Organisation:
        row = await repository.organisation(session, kvk_number)
        assert row is not None
        return row

    row = await idempotency.keys.once(request, session, caller.client_id, idempotency_key, create, replay)
    response.headers["Location"] = request.headers.get("x-forwarded-prefix", "") + f"/v1/organisations/{row.kvk_number}"
    return OrganisationRead.model_validate(row)


@router.get("/organisations", response_model=OrganisationList, tags=["organisations"], summary="Organisations")
async def list_organisations(
    _caller: ReaderDep,
    session: SessionDep,
    request: Request,
    kind: Annotated[OrganisationKind | None, Query(description="Only organisations of this kind.")] = None,
    cursor: Cursor = None,
    page_size: PageSize = 50,
) -> OrganisationList:
    rows = await repository.organisations(session, _after(cursor), page_size + 1, kind)
    page, links = cut_page(request, list(rows), page_size, lambda r: {"k": r.kvk_number})
    return OrganisationList(items=[OrganisationRead.model_validate(r) for r in page], links=links)


@router.get(
    "/organisations/{kvkNumber}",
    response_model=OrganisationRead,
    tags=["organisations"],
    summary="One organisation",
    responses=_problems((404, "Unknown KvK number.")),
)
async def read_organisation(kvk_number: KvkPath, _caller: ReaderDep, session: SessionDep) -> OrganisationRead:
    row = await repository.organisation(session, kvk_number)
    if row is None:
        raise problems.not_found("organisation")
    return OrganisationRead.model_validate(row)


@router.get(
    "/organisations/{kvkNumber}/status",
    response_model=OrganisationStatus,
    tags=["organisations"],
    summary="May this party supply labour / housing today: per scheme status, since and until",
    responses=_problems((404, "Unknown KvK number.")),
)
async def organisation_status(kvk_number: KvkPath, _caller: ReaderDep, session: SessionDep) -> OrganisationStatus:
    row = await repository.organisation(session, kvk_number)
    if row is None:
        raise problems.not_found("organisation")
    on = service.today()
    schemes = await repository.scheme_codes(session)
    certificates = list(await repository.organisation_certificates(session, kvk_number))
    standings = service.standing(certificates, schemes, on)
    valid = {s.scheme for s in standings if s.valid_today}
    return OrganisationStatus(
        kvkNumber=row.kvk_number,
        name=row.name,
        date=on,
        maySupplyLabour=service.LABOUR_SCHEME in valid,
        maySupplyHousing=service.HOUSING_SCHEME in valid,
        schemes=[
            SchemeStatus(
                scheme=s.scheme,
                certificateId=s.certificate.id if s.certificate else None,
                status=s.certificate.status if s.certificate else None,
                since=s.certificate.status_since if s.certificate else None,
                until=s.certificate.valid_until if s.certificate else None,
                validToday=s.valid_today,
            )
            for s in standings
        ],
    )


@router.get(
    "/organisations/{kvkNumber}/report-summary",
    response_model=ReportSummary,
    tags=["reports"],
    summary="Counts of abuse reports about an organisation (no details)",
)
async def report_summary(
    kvk_number: KvkPath, caller: SummaryReaderDep, session: SessionDep, settings: SettingsDep
) -> ReportSummary:
    summary = await service.report_summary(session, kvk_number)
    view = service.summary_disclosure(caller, settings.ptable())

    def shown(cell: tuple[int, int]) -> DisclosedCount:
        count, exact = view.value(*cell)
        return DisclosedCount(count=count, exact=exact)

    return ReportSummary(
        kvkNumber=kvk_number,
        total=shown(summary.total),
        open=shown(summary.open),
        byCategory=[CategoryCount(category=k, **dict(shown(c))) for k, c in summary.by_category.items()],
        byStatus=[StatusCount(status=k, **dict(shown(c))) for k, c in summary.by_status.items()],
        disclosureControl=view.control,
    )


# Certificates.


def _existing_certificate(session: SessionDep) -> Callable[[str], Awaitable[Certificate]]:
    async def read(certificate_id: str) -> Certificate:
        row = await repository.certificate(session, certificate_id)
        assert row is not None
        return row

    return read


def _certificate(row: Certificate, response: Response) -> CertificateRead:
    response.headers["ETag"] = etag(row.version)
    return CertificateRead.model_validate(row)


def _change(row: CertificateStatusChange) -> StatusChangeRead:
    return StatusChangeRead(
        fromStatus=row.from_status,
        status=row.to_status,
        reason=row.reason,
        effectiveDate=row.effective_date,
        recordedAt=row.recorded_at,
        changedBy=Actor(
            clientId=row.changed_by_client_id,
            organisationOin=row.changed_by_oin,
            organisationType=row.changed_by_type,
        ),
    )


@router.post(
    "/certificates",
    openapi_extra=SETS_ETAG,
    status_code=status.HTTP_201_CREATED,
    response_model=CertificateRead,
    tags=["certificates"],
    summary="Record an application for a certificate (certifiers); it starts as applied",
    responses=_problems(*IDEMPOTENCY),
)
async def create_certificate(
    body: CertificateCreate,
    caller: WriterDep,
    session: SessionDep,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> CertificateRead:
    async def create() -> tuple[str, Certificate]:
        row = await service.create_certificate(session, caller, body)
        return row.id, row

    row = await idempotency.keys.once(
        request, session, caller.client_id, idempotency_key, create, _existing_certificate(session)
    )
    response.headers["Location"] = request.headers.get("x-forwarded-prefix", "") + f"/v1/certificates/{row.id}"
    return _certificate(row, response)


@router.get("/certificates", response_model=CertificateList, tags=["certificates"], summary="Certificates")
async def list_certificates(
    _caller: ReaderDep,
    session: SessionDep,
    request: Request,
    kvk_number: Annotated[
        str | None,
        Query(
            description="The organisation's KvK (Chamber of Commerce) number, 8 digits.",
            alias="kvkNumber",
            pattern=KVK_NUMBER_PATTERN,
        ),
    ] = None,
    scheme: Annotated[SchemeCode | None, Query(description="Only certificates of this certification scheme.")] = None,
    certificate_status: Annotated[
        CertificateStatus | None, Query(description="Only certificates in this status.", alias="status")
    ] = None,
    cursor: Cursor = None,
    page_size: PageSize = 50,
) -> CertificateList:
    rows = list(
        await repository.certificates(
            session,
            kvk_number=kvk_number,
            scheme=scheme,
            status=certificate_status,
            after=_after(cursor),
            limit=page_size + 1,
        )
    )
    page, links = cut_page(request, rows, page_size, lambda r: {"k": r.id})
    return CertificateList(items=[CertificateRead.model_validate(r) for r in page], links=links)


@router.get(
    "/certificates/{certificateId}",
    openapi_extra=SETS_ETAG,
    response_model=CertificateRead,
    tags=["certificates"],
    summary="One certificate (with its ETag)",
    responses=_problems((404, "No such certificate.")),
)
async def read_certificate(
    certificate_id: CertificateIdPath, _caller: ReaderDep, session: SessionDep, response: Response
) -> CertificateRead:
    row = await repository.certificate(session, certificate_id)
    if row is None:
        raise problems.not_found("certificate")
    return _certificate(row, response)


@router.get(
    "/certificates/{certificateId}/status-changes",
    response_model=StatusChangeList,
    tags=["certificates"],
    summary="The certificate's complete, append-only status history, oldest first",
    responses=_problems((404, "No such certificate.")),
)
async def list_status_changes(
    certificate_id: CertificateIdPath, _caller: ReaderDep, session: SessionDep
) -> StatusChangeList:
    if await repository.certificate(session, certificate_id) is None:
        raise problems.not_found("certificate")
    return StatusChangeList(items=[_change(r) for r in await repository.status_changes(session, certificate_id)])


@router.post(
    "/certificates/{certificateId}/status-changes",
    openapi_extra=SETS_ETAG | NO_LOCATION,  # appends to the history: no URL of its own
    status_code=status.HTTP_201_CREATED,
    response_model=StatusChangeRead,
    tags=["certificates"],
    summary="Change a certificate's status (the issuing certifier); a forbidden transition is a 409",
    responses=_problems(
        (404, "No such certificate."),
        (409, "The transition is not allowed (allowedStatuses lists those that are), or a concurrent change."),
        (412, "If-Match does not match the current ETag."),
        IDEMPOTENCY[1],
    ),
)
async def create_status_change(
    certificate_id: CertificateIdPath,
    body: StatusChangeCreate,
    caller: WriterDep,
    session: SessionDep,
    request: Request,
    response: Response,
    if_match: IfMatchHeader = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> StatusChangeRead:
    async def create() -> tuple[str, CertificateStatusChange]:
        _, change = await service.change_status(session, caller, certificate_id, body, if_match)
        return str(change.id), change

    async def replay(change_id: str) -> CertificateStatusChange:
        change = await repository.status_change(session, int(change_id))
        assert change is not None
        return change

    change = await idempotency.keys.once(request, session, caller.client_id, idempotency_key, create, replay)
    row = await _existing_certificate(session)(change.certificate_id)
    response.headers["ETag"] = etag(row.version)
    return _change(change)


# Reports.


async def _report(session: SessionDep, row: Report, response: Response) -> ReportRead:
    notes: list[ReportNote] = list(await repository.report_notes(session, row.id))
    response.headers["ETag"] = etag(row.version)
    return ReportRead(
        id=row.id,
        kvkNumber=row.kvk_number,
        housingLocationId=row.housing_location_id,
        municipalityCode=row.municipality_code,
        category=row.category,
        description=row.description,
        observedOn=row.observed_on,
        status=row.status,
        reporter=Actor(
            clientId=row.reporter_client_id, organisationOin=row.reporter_oin, organisationType=row.reporter_type
        ),
        createdAt=row.created_at,
        updatedAt=row.updated_at,
        notes=[
            ReportNoteRead(
                fromStatus=n.from_status,
                status=n.to_status,
                note=n.note,
                date=n.noted_on,
                recordedAt=n.recorded_at,
                by=Actor(clientId=n.by_client_id, organisationOin=n.by_oin, organisationType=n.by_type),
            )
            for n in notes
        ],
    )


@router.post(
    "/reports",
    openapi_extra=SETS_ETAG,
    status_code=status.HTTP_201_CREATED,
    response_model=ReportRead,
    tags=["reports"],
    summary="File an abuse report about an organisation and/or a housing location",
    responses=_problems(*IDEMPOTENCY),
)
async def create_report(
    body: ReportCreate,
    caller: ReportWriterDep,
    session: SessionDep,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> ReportRead:
    async def create() -> tuple[str, Report]:
        row = await service.create_report(session, caller, body)
        return row.id, row

    async def replay(report_id: str) -> Report:
        return await service.visible_report(session, caller, report_id)

    row = await idempotency.keys.once(request, session, caller.client_id, idempotency_key, create, replay)
    response.headers["Location"] = request.headers.get("x-forwarded-prefix", "") + f"/v1/reports/{row.id}"
    return await _report(session, row, response)


@router.get(
    "/reports",
    response_model=ReportList,
    tags=["reports"],
    summary="The reports the caller may see (filed by it, its municipality's, or all for inspectorate and certifiers)",
)
async def list_reports(
    caller: ReportReaderDep,
    session: SessionDep,
    request: Request,
    kvk_number: Annotated[
        str | None,
        Query(
            description="The organisation's KvK (Chamber of Commerce) number, 8 digits.",
            alias="kvkNumber",
            pattern=KVK_NUMBER_PATTERN,
        ),
    ] = None,
    report_status: Annotated[
        ReportStatus | None, Query(description="Only reports in this status.", alias="status")
    ] = None,
    municipality_code: Annotated[
        str | None,
        Query(
            description="Only reports about this municipality (CBS code, GM followed by 4 digits).",
            alias="municipalityCode",
            pattern=MUNICIPALITY_CODE_PATTERN,
        ),
    ] = None,
    cursor: Cursor = None,
    page_size: PageSize = 50,
) -> ReportList:
    rows = list(
        await repository.reports(
            session,
            caller,
            kvk_number=kvk_number,
            status=report_status,
            municipality_code=municipality_code,
            after=_after(cursor),
            limit=page_size + 1,
        )
    )
    page, links = cut_page(request, rows, page_size, lambda r: {"k": r.id})
    return ReportList(items=[ReportListItem.model_validate(r) for r in page], links=links)


@router.get(
    "/reports/{reportId}",
    openapi_extra=SETS_ETAG,
    response_model=ReportRead,
    tags=["reports"],
    summary="One report with its follow-up notes (only for those who may see it; others 404)",
    responses=_problems((404, "No such report, or not visible to the caller.")),
)
async def read_report(
    report_id: ReportIdPath, caller: ReportReaderDep, session: SessionDep, response: Response
) -> ReportRead:
    row = await service.visible_report(session, caller, report_id)
    return await _report(session, row, response)


@router.post(
    "/reports/{reportId}/notes",
    openapi_extra=SETS_ETAG | NO_LOCATION,  # appends to the history: no URL of its own
    status_code=status.HTTP_201_CREATED,
    response_model=ReportRead,
    tags=["reports"],
    summary="Add a dated follow-up note, optionally moving the report along its workflow",
    responses=_problems(
        (404, "No such report, or not visible to the caller."),
        (409, "The status change is not allowed (allowedStatuses lists those that are), or a concurrent change."),
        (412, "If-Match does not match the current ETag."),
        IDEMPOTENCY[1],
    ),
)
async def create_report_note(
    report_id: ReportIdPath,
    body: ReportNoteCreate,
    caller: ReportWriterDep,
    session: SessionDep,
    request: Request,
    response: Response,
    if_match: IfMatchHeader = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> ReportRead:
    async def create() -> tuple[str, Report]:
        row = await service.add_note(session, caller, report_id, body, if_match)
        return row.id, row

    async def replay(same_report_id: str) -> Report:
        return await service.visible_report(session, caller, same_report_id)

    row = await idempotency.keys.once(request, session, caller.client_id, idempotency_key, create, replay)
    return await _report(session, row, response)
