"""Statistics (scope registry:statistics): thin endpoints over services.registry.statistics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic_core import to_json

from lmx_common.validation import MUNICIPALITY_CODE_PATTERN, PROVINCE_CODE_PATTERN
from services.registry import statistics
from services.registry.dependencies import SessionDep, SettingsDep, Statistician
from services.registry.statistics_schemas import (
    DepartureStatistics,
    EconomicLocationStatistics,
    HousingLocationStatistics,
    MunicipalityStatistics,
    WorkResidenceStatistics,
)
from services.registry.suppression import SuppressedGrid

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
MunicipalityCode = Annotated[
    str | None,
    Query(
        description="Only this municipality (CBS code, GM followed by 4 digits).",
        alias="municipalityCode",
        pattern=MUNICIPALITY_CODE_PATTERN,
    ),
]


@router.get(
    "/municipalities",
    response_model=MunicipalityStatistics,
    response_model_by_alias=True,
    summary="Active migrants working and residing per municipality; arrivals and departures in a period",
)
async def municipality_statistics(
    session: SessionDep,
    settings: SettingsDep,
    principal: Statistician,
    province_code: ProvinceCode = None,
    period_from: Annotated[
        date | None, Query(description="First day of the period (inclusive).", alias="periodFrom")
    ] = None,
    period_to: Annotated[
        date | None, Query(description="Last day of the period (inclusive).", alias="periodTo")
    ] = None,
) -> MunicipalityStatistics:
    return await statistics.by_municipality(
        session, principal, settings.suppression_threshold, province_code, period_from, period_to
    )


@router.get(
    "/work-residence",
    response_model=WorkResidenceStatistics,
    response_model_by_alias=True,
    summary="Where the people who work in a municipality live (active registrations)",
)
async def work_residence_statistics(
    session: SessionDep,
    settings: SettingsDep,
    principal: Statistician,
    province_code: ProvinceCode = None,
    work_municipality_code: Annotated[
        str | None,
        Query(
            description="Only registrations that work in this municipality (CBS code, GM followed by 4 digits).",
            alias="workMunicipalityCode",
            pattern=MUNICIPALITY_CODE_PATTERN,
        ),
    ] = None,
) -> StreamingResponse:
    grid = await statistics.work_residence(
        session, principal, settings.suppression_threshold, province_code, work_municipality_code
    )
    return StreamingResponse(
        _work_residence_document(grid, settings.suppression_threshold), media_type="application/json"
    )


def _work_residence_document(grid: SuppressedGrid, threshold: int) -> AsyncIterator[bytes]:
    """The WorkResidenceStatistics document as JSON text, in slices.

    A national table has ~100,000 cells (~11 MB): written straight as JSON text (the model describes
    the same document; tests validate against it), not through an object per cell, and streamed in
    slices so that no more than a slice of the text is held at once. Codes are JSON-encoded once
    each. Everything that can fail is done before the first byte is sent."""
    total, total_hidden = grid.total
    quoted = {code: to_json(code).decode() for code, _, _ in grid.rows + grid.cols}
    document = {
        "threshold": threshold,
        "asOf": datetime.now(UTC),
        "cells": [],
        "workTotals": [{"municipalityCode": c, "count": None if h else n, "suppressed": h} for c, n, h in grid.rows],
        "residenceTotals": [
            {"municipalityCode": c, "count": None if h else n, "suppressed": h} for c, n, h in grid.cols
        ],
        "total": {"count": None if total_hidden else total, "suppressed": total_hidden},
    }
    head, tail = to_json(document).split(b'"cells":[]', 1)

    async def body() -> AsyncIterator[bytes]:
        yield head + b'"cells":['
        for start in range(0, len(grid.cells), CELLS_PER_SLICE):
            part = ",".join(
                f'{{"workMunicipalityCode":{quoted[w]},"residenceMunicipalityCode":{quoted[r]},'
                + ('"count":null,"suppressed":true}' if h else f'"count":{n},"suppressed":false}}')
                for (w, r, n), h in zip(
                    grid.cells[start : start + CELLS_PER_SLICE],
                    grid.hidden[start : start + CELLS_PER_SLICE],
                    strict=True,
                )
            )
            yield (("," if start else "") + part).encode()
        yield b"]" + tail

    return body()


@router.get(
    "/housing-locations",
    response_model=HousingLocationStatistics,
    response_model_by_alias=True,
    summary="Active residents per housing location",
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
        session, principal, settings.suppression_threshold, municipality_code, housing_location_ids
    )


@router.get(
    "/economic-locations",
    response_model=EconomicLocationStatistics,
    response_model_by_alias=True,
    summary="Active migrants working at each economic location",
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
) -> EconomicLocationStatistics:
    return await statistics.by_economic_location(
        session, principal, settings.suppression_threshold, economic_location_ids, province_code
    )


@router.get(
    "/departures",
    response_model=DepartureStatistics,
    response_model_by_alias=True,
    summary="Departures in a period by reason and destination",
)
async def departure_statistics(
    session: SessionDep,
    settings: SettingsDep,
    principal: Statistician,
    municipality_code: MunicipalityCode = None,
    period_from: Annotated[
        date | None, Query(description="First day of the period (inclusive).", alias="periodFrom")
    ] = None,
    period_to: Annotated[
        date | None, Query(description="Last day of the period (inclusive).", alias="periodTo")
    ] = None,
) -> DepartureStatistics:
    return await statistics.departures(
        session, principal, settings.suppression_threshold, municipality_code, period_from, period_to
    )
