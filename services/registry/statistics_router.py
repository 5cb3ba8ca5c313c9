"""Statistics (scope registry:statistics): thin endpoints over services.registry.statistics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic_core import to_json

from lmx_common.disclosure import PERIOD_PATTERN
from lmx_common.validation import MUNICIPALITY_CODE_PATTERN, PROVINCE_CODE_PATTERN, REGION_CODE_PATTERN
from services.registry import statistics
from services.registry.dependencies import SessionDep, SettingsDep, Statistician
from services.registry.statistics import PublishedGrid
from services.registry.statistics_schemas import (
    DepartureStatistics,
    EconomicLocationStatistics,
    HousingLocationStatistics,
    MunicipalityStatistics,
    WorkResidenceStatistics,
)

router = APIRouter(prefix="/v1/statistics", tags=["statistics"])
CELLS_PER_SLICE = 5000  # of the work-residence document, streamed
ProvinceCode = Annotated[
    str | None,
    Query(
        description="Only this province (CBS code, PV followed by 2 digits).",
        alias="provinceCode",
        pattern=PROVINCE_CODE_PATTERN,
    ),
]
RegionCode = Annotated[
    str | None,
    Query(
        description="Only the municipalities of this region (labour-market region, e.g. `west-brabant`).",
        alias="regionCode",
        pattern=REGION_CODE_PATTERN,
    ),
]
MunicipalityCode = Annotated[
    str | None,
    Query(
        description="Only this municipality (CBS code, GM followed by 4 digits).",
        alias="municipalityCode",
        pattern=MUNICIPALITY_CODE_PATTERN,
    ),
]
CalendarPeriodQuery = Annotated[
    str | None,
    Query(
        description="A calendar year (`2026`), quarter (`2026-Q3`) or month (`2026-07`); default: the current "
        "year. Free boundaries are not offered: two periods a day apart would give that day by subtraction.",
        pattern=PERIOD_PATTERN,
    ),
]
DISCLOSURE_NOTE = (
    " Every count is exact for the municipality it concerns and perturbed by the cell-key method for "
    "other callers (docs/privacy.md): the same records always give the same answer."
)


@router.get(
    "/municipalities",
    response_model=MunicipalityStatistics,
    response_model_by_alias=True,
    summary="Active migrants working and residing per municipality; arrivals and departures in a period",
    description="Per municipality (of a province or region, or all): active registrations working and "
    "residing there, arrivals and departures in a calendar period." + DISCLOSURE_NOTE,
)
async def municipality_statistics(
    session: SessionDep,
    settings: SettingsDep,
    principal: Statistician,
    province_code: ProvinceCode = None,
    region_code: RegionCode = None,
    period: CalendarPeriodQuery = None,
) -> MunicipalityStatistics:
    where = statistics.area(province_code=province_code, region_code=region_code)
    return await statistics.by_municipality(session, principal, settings.ptable(), where, period)


@router.get(
    "/work-residence",
    response_model=WorkResidenceStatistics,
    response_model_by_alias=True,
    summary="Where the people who work in a municipality live (active registrations)",
    description="Cells (work municipality x residence municipality) with a published count above 0, "
    "the totals per work and per residence municipality and the grand total; filtered on the work "
    "municipality." + DISCLOSURE_NOTE,
)
async def work_residence_statistics(
    session: SessionDep,
    settings: SettingsDep,
    principal: Statistician,
    province_code: ProvinceCode = None,
    region_code: RegionCode = None,
    work_municipality_code: Annotated[
        str | None,
        Query(
            description="Only registrations that work in this municipality (CBS code, GM followed by 4 digits).",
            alias="workMunicipalityCode",
            pattern=MUNICIPALITY_CODE_PATTERN,
        ),
    ] = None,
) -> StreamingResponse:
    where = statistics.area(province_code=province_code, region_code=region_code)
    grid = await statistics.work_residence(session, principal, settings.ptable(), where, work_municipality_code)
    return StreamingResponse(_work_residence_document(grid), media_type="application/json")


def _count_json(value: int, exact: bool, key: int) -> str:
    text = f'"count":{value},"exact":{"true" if exact else "false"}'
    return text + (f',"cellKey":{key}' if key >= 0 else "")


def _work_residence_document(grid: PublishedGrid) -> AsyncIterator[bytes]:
    """The WorkResidenceStatistics document as JSON text, in slices.

    A national table has ~100,000 cells (~11 MB): written straight as JSON text (the model describes
    the same document; tests validate against it), not through an object per cell, and streamed in
    slices so that no more than a slice of the text is held at once. Codes are JSON-encoded once
    each. Everything that can fail is done before the first byte is sent."""
    codes = {c for c, *_ in grid.rows} | {c for c, *_ in grid.cols} | {w for w, *_ in grid.cells}
    codes |= {r for _, r, *_ in grid.cells}
    quoted = {code: to_json(code).decode() for code in codes}
    value, exact, key = grid.total
    document = {
        "disclosureControl": grid.view.control.model_dump(by_alias=True),
        "asOf": datetime.now(UTC),
        "cells": [],
        "workTotals": [],
        "residenceTotals": [],
        "total": {"count": value, "exact": exact} | ({"cellKey": key} if key >= 0 else {}),
    }
    head, tail = to_json(document).split(b'"cells":[],"workTotals":[],"residenceTotals":[]', 1)

    def totals(lines: list[tuple[str, int, bool, int]]) -> str:
        return ",".join(f'{{"municipalityCode":{quoted[c]},{_count_json(v, e, k)}}}' for c, v, e, k in lines)

    async def body() -> AsyncIterator[bytes]:
        yield head + b'"cells":['
        cells = grid.cells
        for start in range(0, len(cells), CELLS_PER_SLICE):
            part = ",".join(
                f'{{"workMunicipalityCode":{quoted[w]},"residenceMunicipalityCode":{quoted[r]},{_count_json(v, e, k)}}}'
                for w, r, v, e, k in cells[start : start + CELLS_PER_SLICE]
            )
            yield (("," if start else "") + part).encode()
        yield f'],"workTotals":[{totals(grid.rows)}],"residenceTotals":[{totals(grid.cols)}]'.encode() + tail

    return body()


@router.get(
    "/housing-locations",
    response_model=HousingLocationStatistics,
    response_model_by_alias=True,
    summary="Active residents per housing location",
    description="Active registrations per housing location (and residence municipality), for locations "
    "with a published count above 0." + DISCLOSURE_NOTE,
)
async def housing_location_statistics(
    session: SessionDep,
    settings: SettingsDep,
    principal: Statistician,
    municipality_code: MunicipalityCode = None,
    housing_location_ids: Annotated[
        list[str] | None,
        Query(
            description="Only these housing locations (repeat the parameter for more).",
            alias="housingLocationId",
            max_length=500,
        ),
    ] = None,
) -> HousingLocationStatistics:
    return await statistics.by_housing_location(
        session, principal, settings.ptable(), municipality_code, housing_location_ids
    )


@router.get(
    "/economic-locations",
    response_model=EconomicLocationStatistics,
    response_model_by_alias=True,
    summary="Active migrants working at each economic location",
    description="Active registrations per economic location and work municipality, for those with a "
    "published count above 0." + DISCLOSURE_NOTE,
)
async def economic_location_statistics(
    session: SessionDep,
    settings: SettingsDep,
    principal: Statistician,
    economic_location_ids: Annotated[
        list[str] | None,
        Query(
            description="Only these economic locations (repeat the parameter for more).",
            alias="economicLocationId",
            max_length=500,
        ),
    ] = None,
    province_code: ProvinceCode = None,
    region_code: RegionCode = None,
) -> EconomicLocationStatistics:
    where = statistics.area(province_code=province_code, region_code=region_code)
    return await statistics.by_economic_location(session, principal, settings.ptable(), economic_location_ids, where)


@router.get(
    "/departures",
    response_model=DepartureStatistics,
    response_model_by_alias=True,
    summary="Departures in a period by reason and destination",
    description="Departures in a calendar period by reason and destination type, from the residence "
    "municipalities of a municipality, province or region (or all), with totals." + DISCLOSURE_NOTE,
)
async def departure_statistics(
    session: SessionDep,
    settings: SettingsDep,
    principal: Statistician,
    municipality_code: MunicipalityCode = None,
    province_code: ProvinceCode = None,
    region_code: RegionCode = None,
    period: CalendarPeriodQuery = None,
) -> DepartureStatistics:
    where = statistics.area(province_code=province_code, region_code=region_code, municipality_code=municipality_code)
    return await statistics.departures(session, principal, settings.ptable(), where, period)
