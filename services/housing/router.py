"""Regions, the fair share and the at-risk report: thin endpoints."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from lmx_common.auth import current_principal
from lmx_common.problems import InvalidParam, ProblemError, invalid_input, problem_openapi_response
from lmx_common.validation import MUNICIPALITY_CODE_PATTERN, PROVINCE_CODE_PATTERN, REGION_CODE_PATTERN
from services.housing import reports, repository
from services.housing.dependencies import FairShareReader, GatewayDep, Reader, SessionDep, SettingsDep
from services.housing.schemas import AtRiskReport, FairShareReport, RegionList, RegionRead

router = APIRouter(prefix="/v1", dependencies=[Depends(current_principal)])
RegionCode = Annotated[
    str | None,
    Query(
        description="Code of the housing region (labour-market region) to filter on.",
        alias="regionCode",
        pattern=REGION_CODE_PATTERN,
    ),
]
ProvinceCode = Annotated[
    str | None,
    Query(
        description="CBS province code (PV followed by 2 digits).", alias="provinceCode", pattern=PROVINCE_CODE_PATTERN
    ),
]
MunicipalityCode = Annotated[
    str | None,
    Query(
        description="CBS municipality code (GM followed by 4 digits).",
        alias="municipalityCode",
        pattern=MUNICIPALITY_CODE_PATTERN,
    ),
]


@router.get("/regions", response_model=RegionList, tags=["regions"], summary="Regions and provinces")
async def list_regions(
    session: SessionDep,
    kind: Annotated[
        Literal["region", "province"] | None,
        Query(description="Only regions of this kind (housing region or province)."),
    ] = None,
) -> RegionList:
    rows = await repository.regions_with_members(session, kind=kind)
    return RegionList(
        items=[
            RegionRead(code=r.code, name=r.name, kind=r.kind, municipality_codes=m, lagging_factor=r.lagging_factor)
            for r, m in rows
        ]
    )


@router.get(
    "/regions/{code}",
    response_model=RegionRead,
    tags=["regions"],
    summary="One region",
    responses={404: problem_openapi_response("Unknown region.")},
)
async def get_region(
    session: SessionDep, code: Annotated[str, Path(description="The region's code.", pattern=REGION_CODE_PATTERN)]
) -> RegionRead:
    rows = await repository.regions_with_members(session, code=code)
    if not rows:
        raise ProblemError(404, f"No region {code}.", slug="not-found")
    region, members = rows[0]
    return RegionRead(
        code=region.code,
        name=region.name,
        kind=region.kind,
        municipality_codes=members,
        lagging_factor=region.lagging_factor,
    )


def _one_of(**given: str | None) -> tuple[str, str]:
    present = [(name, value) for name, value in given.items() if value is not None]
    if len(present) != 1:
        names = " or ".join(given)
        raise invalid_input([InvalidParam(name, f"give exactly one of {names}", "one-of", "query") for name in given])
    return present[0]


@router.get(
    "/fair-share",
    response_model=FairShareReport,
    response_model_by_alias=True,
    tags=["fair-share"],
    summary="The fair share of each member municipality of a region or province",
    responses={
        404: problem_openapi_response("Unknown region."),
        503: problem_openapi_response("The registry cannot be reached and no earlier figures are kept."),
    },
)
async def get_fair_share(
    session: SessionDep,
    settings: SettingsDep,
    gateway: GatewayDep,
    principal: FairShareReader,
    region_code: RegionCode = None,
    province_code: ProvinceCode = None,
) -> JSONResponse:
    _, code = _one_of(regionCode=region_code, provinceCode=province_code)
    region = await repository.region(session, code)
    if region is None or (province_code is not None and region.kind != "province"):
        raise ProblemError(404, f"No region {code}.", slug="not-found")
    report = await reports.fair_share(session, gateway, region, principal, settings.ptable())
    headers = {"Cache-Control": "no-store"}
    if report.stale:
        headers["Warning"] = '110 - "Response is stale: the registry could not be reached"'
    return JSONResponse(report.model_dump(mode="json", by_alias=True), headers=headers)


@router.get(
    "/at-risk",
    response_model=AtRiskReport,
    response_model_by_alias=True,
    tags=["at-risk"],
    summary="Locations whose landlord lost its certificate, and the residents affected",
    responses={404: problem_openapi_response("Unknown region.")},
)
async def get_at_risk(
    session: SessionDep,
    settings: SettingsDep,
    gateway: GatewayDep,
    principal: Reader,
    municipality_code: MunicipalityCode = None,
    region_code: RegionCode = None,
) -> AtRiskReport:
    name, code = _one_of(municipalityCode=municipality_code, regionCode=region_code)
    if name == "regionCode":
        if await repository.region(session, code) is None:
            raise ProblemError(404, f"No region {code}.", slug="not-found")
        codes = await repository.member_codes(session, code)
    else:
        codes = [code]
    query = repository.housing_locations_query(municipality_codes=codes, at_risk=True, schemes=settings.at_risk_schemes)
    locations = await repository.housing_locations(session, query)
    return await reports.at_risk(
        session,
        gateway,
        locations,
        principal,
        settings.ptable(),
        settings.at_risk_schemes,
        municipality_code,
        region_code,
    )
