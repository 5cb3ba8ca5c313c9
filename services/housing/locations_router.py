"""Housing locations (with their pipeline and occupancy) and regional economic locations."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from lmx_common import problems
from lmx_common.app import NO_LOCATION
from lmx_common.auth import current_principal
from lmx_common.etag import SETS_ETAG, check_if_match, etag
from lmx_common.pagination import DEFAULT_PAGE_SIZE, CursorQuery, PageSizeQuery, cursor_value, cut_page
from lmx_common.problems import InvalidParam, ProblemError, invalid_input, problem_openapi_response, validation_params
from lmx_common.validation import LOCATION_ID_PATTERN, MUNICIPALITY_CODE_PATTERN, REGION_CODE_PATTERN
from services.housing import repository, service
from services.housing.dependencies import Reader, SessionDep, SettingsDep, Writer
from services.housing.models import EconomicLocation, HousingLocation
from services.housing.schemas import (
    DistributionKeysReplace,
    EconomicLocationCreate,
    EconomicLocationList,
    EconomicLocationRead,
    HousingLocationCreate,
    HousingLocationPage,
    HousingLocationRead,
    HousingLocationUpdate,
    OccupancyReportCreate,
    OccupancyReportList,
    OccupancyReportRead,
    PipelineStatus,
    StatusChangeCreate,
)

router = APIRouter(prefix="/v1", dependencies=[Depends(current_principal)])
LocationIdPath = Annotated[
    str, Path(description="The housing location's id.", alias="housingLocationId", pattern=LOCATION_ID_PATTERN)
]
EconomicIdPath = Annotated[
    str,
    Path(description="The regional economic location's id.", alias="economicLocationId", pattern=LOCATION_ID_PATTERN),
]
IfMatch = Annotated[str | None, Header(alias="If-Match", description="The ETag of the version you read.")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: problem_openapi_response("No such location.")}
FORBIDDEN_CONFLICT: dict[int | str, dict[str, Any]] = {
    403: problem_openapi_response("Only the municipality concerned manages this."),
    409: problem_openapi_response("Conflicts with the current state."),
}
PRECONDITIONS: dict[int | str, dict[str, Any]] = {
    412: problem_openapi_response("If-Match does not match the current ETag."),
    428: problem_openapi_response("If-Match is required."),
}


def _prefix(request: Request) -> str:
    return request.headers.get("x-forwarded-prefix", "")


async def _location_read(request: Request, session: Any, row: HousingLocation) -> HousingLocationRead:
    settings = request.app.state.settings
    occupancy = await repository.latest_occupancy(session, [row.id])
    risks = await repository.risks_of(session, [row.landlord_kvk_number], settings.at_risk_schemes)
    return service.location_read(row, occupancy.get(row.id), risks.get(row.landlord_kvk_number, []))


async def _location_response(
    request: Request, session: Any, row: HousingLocation, status: int = 200, created: bool = False
) -> JSONResponse:
    body = (await _location_read(request, session, row)).model_dump(mode="json", by_alias=True)
    headers = {"ETag": etag(row.version)}
    if created:
        headers["Location"] = _prefix(request) + f"/v1/housing-locations/{row.id}"
    return JSONResponse(body, status_code=status, headers=headers)


async def _existing(session: Any, location_id: str, for_update: bool = False) -> HousingLocation:
    row = await repository.housing_location(session, location_id, for_update=for_update)
    if row is None:
        raise problems.not_found("housing location")
    return row


@router.post(
    "/housing-locations",
    openapi_extra=SETS_ETAG,
    status_code=201,
    response_model=HousingLocationRead,
    tags=["housing-locations"],
    summary="Add a housing location of the caller's municipality",
    responses=FORBIDDEN_CONFLICT,
)
async def create_housing_location(
    request: Request, session: SessionDep, principal: Writer, body: HousingLocationCreate
) -> JSONResponse:
    row = await service.create_location(session, principal, body)
    return await _location_response(request, session, row, 201, created=True)


@router.get(
    "/housing-locations",
    response_model=HousingLocationPage,
    response_model_by_alias=True,
    tags=["housing-locations"],
    summary="Housing locations, filtered; atRisk=true lists those whose landlord lost its certificate",
    responses={404: problem_openapi_response("Unknown region.")},
)
async def list_housing_locations(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _principal: Reader,
    municipality_code: Annotated[
        str | None,
        Query(
            description="Only locations in this municipality (CBS code, GM followed by 4 digits).",
            alias="municipalityCode",
            pattern=MUNICIPALITY_CODE_PATTERN,
        ),
    ] = None,
    region_code: Annotated[
        str | None,
        Query(
            description="Only locations (or economic locations) in this region.",
            alias="regionCode",
            pattern=REGION_CODE_PATTERN,
        ),
    ] = None,
    status: Annotated[PipelineStatus | None, Query(description="Only locations in this pipeline status.")] = None,
    at_risk: Annotated[
        bool | None,
        Query(
            description="true: only locations whose landlord lost its certificate; false: only the others.",
            alias="atRisk",
        ),
    ] = None,
    page_size: PageSizeQuery = DEFAULT_PAGE_SIZE,
    cursor: CursorQuery = None,
) -> HousingLocationPage:
    after = cursor_value(cursor, "id")
    codes: list[str] | None = None
    if region_code is not None:
        if await repository.region(session, region_code) is None:
            raise ProblemError(404, f"No region {region_code}.", slug="not-found")
        codes = await repository.member_codes(session, region_code)
    if municipality_code is not None:
        codes = [municipality_code] if codes is None or municipality_code in codes else []
    query = repository.housing_locations_query(
        municipality_codes=codes, status=status, at_risk=at_risk, schemes=settings.at_risk_schemes, after=after
    )
    rows, links = cut_page(
        request,
        await repository.housing_locations(session, query, limit=page_size + 1),
        page_size,
        lambda r: {"id": r.id},
    )
    occupancy = await repository.latest_occupancy(session, [r.id for r in rows])
    risks = await repository.risks_of(session, [r.landlord_kvk_number for r in rows], settings.at_risk_schemes)
    items = [service.location_read(r, occupancy.get(r.id), risks.get(r.landlord_kvk_number, [])) for r in rows]
    return HousingLocationPage(items=items, links=links)


@router.get(
    "/housing-locations/{housingLocationId}",
    openapi_extra=SETS_ETAG,
    response_model=HousingLocationRead,
    tags=["housing-locations"],
    summary="One housing location",
    responses=NOT_FOUND,
)
async def get_housing_location(
    request: Request, session: SessionDep, _principal: Reader, location_id: LocationIdPath
) -> JSONResponse:
    return await _location_response(request, session, await _existing(session, location_id))


# The patch is read by hand (merge patch), so FastAPI never puts its model in the components: the schema
# goes inline; the models it nests (Address) are in the components through the other routes.
_MERGE_PATCH_SCHEMA = HousingLocationUpdate.model_json_schema(
    by_alias=True, ref_template="#/components/schemas/{model}"
)
_MERGE_PATCH_SCHEMA.pop("$defs", None)


@router.patch(
    "/housing-locations/{housingLocationId}",
    response_model=HousingLocationRead,
    tags=["housing-locations"],
    summary="Change a location's facts (JSON merge patch; If-Match required)",
    openapi_extra={
        **SETS_ETAG,
        "requestBody": {
            "required": True,
            "content": {
                "application/merge-patch+json": {
                    "schema": _MERGE_PATCH_SCHEMA,
                    "example": {"beds": 140, "expectedOpeningDate": "2027-03-01"},
                }
            },
        },
    },
    responses={
        **NOT_FOUND,
        **FORBIDDEN_CONFLICT,
        **PRECONDITIONS,
        415: problem_openapi_response("Use application/merge-patch+json."),
    },
)
async def patch_housing_location(
    request: Request, session: SessionDep, principal: Writer, location_id: LocationIdPath, if_match: IfMatch = None
) -> JSONResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/merge-patch+json":
        raise ProblemError(
            415,
            "Send the change as application/merge-patch+json.",
            slug="unsupported-media-type",
            headers={"Accept-Patch": "application/merge-patch+json"},
        )
    row = await _existing(session, location_id, for_update=True)
    service.require_manager(principal, row.municipality_code)
    check_if_match(if_match, row.version, what="housing location")
    try:
        patch = HousingLocationUpdate.model_validate(json.loads(await request.body()))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise invalid_input([InvalidParam("body", "not JSON", "json", "body")]) from exc
    except ValidationError as exc:
        params = validation_params(exc.errors())
        raise invalid_input([InvalidParam(p.name, p.reason, p.code, "body") for p in params]) from exc
    service.update_location(row, patch)
    await session.flush()
    return await _location_response(request, session, row)


@router.post(
    "/housing-locations/{housingLocationId}/status-changes",
    openapi_extra=SETS_ETAG,
    response_model=HousingLocationRead,
    tags=["housing-locations"],
    summary="Move a location along the pipeline (forward only, or to closed)",
    responses={**NOT_FOUND, **FORBIDDEN_CONFLICT, 412: PRECONDITIONS[412]},
)
async def change_housing_location_status(
    request: Request,
    session: SessionDep,
    principal: Writer,
    location_id: LocationIdPath,
    body: StatusChangeCreate,
    if_match: IfMatch = None,
) -> JSONResponse:
    row = await _existing(session, location_id, for_update=True)
    service.require_manager(principal, row.municipality_code)
    check_if_match(if_match, row.version, required=False, what="housing location")  # appends to its history
    row = await service.change_status(session, row, body)
    return await _location_response(request, session, row)


def _occupancy_read(report: Any, beds: int) -> OccupancyReportRead:
    return OccupancyReportRead(
        id=report.id,
        housing_location_id=report.housing_location_id,
        date=report.reported_on,
        occupied_beds=report.occupied_beds,
        beds=beds,
        created_at=report.created_at,
    )


@router.post(
    "/housing-locations/{housingLocationId}/occupancy-reports",
    status_code=201,
    openapi_extra=NO_LOCATION,  # one report in the location's list: no URL of its own
    response_model=OccupancyReportRead,
    response_model_by_alias=True,
    tags=["housing-locations"],
    summary="Report a location's occupied beds on a date (more than its beds is a 400)",
    responses={**NOT_FOUND, **FORBIDDEN_CONFLICT},
)
async def create_occupancy_report(
    session: SessionDep, principal: Writer, location_id: LocationIdPath, body: OccupancyReportCreate
) -> OccupancyReportRead:
    row = await _existing(session, location_id, for_update=True)
    service.require_manager(principal, row.municipality_code)
    report = await service.report_occupancy(session, principal, row, body)
    return _occupancy_read(report, row.beds)


@router.get(
    "/housing-locations/{housingLocationId}/occupancy-reports",
    response_model=OccupancyReportList,
    response_model_by_alias=True,
    tags=["housing-locations"],
    summary="A location's occupancy reports, newest first",
    responses=NOT_FOUND,
)
async def list_occupancy_reports(
    session: SessionDep, _principal: Reader, location_id: LocationIdPath
) -> OccupancyReportList:
    row = await _existing(session, location_id)
    reports = await repository.occupancy_reports(session, row.id)
    return OccupancyReportList(items=[_occupancy_read(r, row.beds) for r in reports])


# Regional economic locations.


async def _economic_response(
    request: Request, session: Any, row: EconomicLocation, status: int = 200, created: bool = False
) -> JSONResponse:
    keys = await repository.keys_of(session, [row.id])
    body = service.economic_location_read(row, keys[row.id]).model_dump(mode="json", by_alias=True)
    headers = {"ETag": etag(row.version)}
    if created:
        headers["Location"] = _prefix(request) + f"/v1/economic-locations/{row.id}"
    return JSONResponse(body, status_code=status, headers=headers)


@router.post(
    "/economic-locations",
    openapi_extra=SETS_ETAG,
    status_code=201,
    response_model=EconomicLocationRead,
    tags=["economic-locations"],
    summary="Record a regional economic location with its distribution keys (they sum to 1)",
    responses=FORBIDDEN_CONFLICT,
)
async def create_economic_location(
    request: Request, session: SessionDep, principal: Writer, body: EconomicLocationCreate
) -> JSONResponse:
    row = await service.create_economic_location(session, principal, body)
    return await _economic_response(request, session, row, 201, created=True)


@router.get(
    "/economic-locations",
    response_model=EconomicLocationList,
    tags=["economic-locations"],
    summary="Regional economic locations and their keys",
)
async def list_economic_locations(
    session: SessionDep,
    _principal: Reader,
    region_code: Annotated[
        str | None,
        Query(
            description="Only locations (or economic locations) in this region.",
            alias="regionCode",
            pattern=REGION_CODE_PATTERN,
        ),
    ] = None,
) -> EconomicLocationList:
    rows = await repository.economic_locations(session, region_code)
    keys = await repository.keys_of(session, [r.id for r in rows])
    return EconomicLocationList(items=[service.economic_location_read(r, keys[r.id]) for r in rows])


@router.get(
    "/economic-locations/{economicLocationId}",
    openapi_extra=SETS_ETAG,
    response_model=EconomicLocationRead,
    tags=["economic-locations"],
    summary="One regional economic location",
    responses={404: problem_openapi_response("No such economic location.")},
)
async def get_economic_location(
    request: Request, session: SessionDep, _principal: Reader, location_id: EconomicIdPath
) -> JSONResponse:
    row = await repository.economic_location(session, location_id)
    if row is None:
        raise problems.not_found("economic location")
    return await _economic_response(request, session, row)


@router.put(
    "/economic-locations/{economicLocationId}/keys",
    openapi_extra=SETS_ETAG,
    response_model=EconomicLocationRead,
    tags=["economic-locations"],
    summary="Replace the distribution keys (they sum to 1; If-Match required)",
    responses={404: problem_openapi_response("No such economic location."), **FORBIDDEN_CONFLICT, **PRECONDITIONS},
)
async def replace_distribution_keys(
    request: Request,
    session: SessionDep,
    principal: Writer,
    location_id: EconomicIdPath,
    body: DistributionKeysReplace,
    if_match: IfMatch = None,
) -> JSONResponse:
    row = await repository.economic_location(session, location_id, for_update=True)
    if row is None:
        raise problems.not_found("economic location")
    check_if_match(if_match, row.version, what="economic location")
    row = await service.replace_keys(session, principal, row, body.keys)
    return await _economic_response(request, session, row)
