"""Statistics (scope registry:statistics), computed in SQL, with small counts suppressed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic_core import to_json
from sqlalchemy import String, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.auth import OrganisationType, Principal
from lmx_common.problems import InvalidParam, invalid_input
from lmx_common.reference import municipalities
from services.registry.dependencies import SessionDep, SettingsDep, Statistician
from services.registry.models import Registration, RegistrationActiveCount
from services.registry.suppression import grid_lines, grid_values, suppress, suppress_grid
from services.registry.visibility import EXACT_STATISTICS_SCOPE, PERSON_LEVEL_SCOPE

router = APIRouter(prefix="/v1/statistics", tags=["statistics"])
CELLS_PER_SLICE = 5000  # of the work-residence document, streamed
ProvinceCode = Annotated[str | None, Query(alias="provinceCode", pattern=r"^PV\d{2}$")]
MunicipalityCode = Annotated[str | None, Query(alias="municipalityCode", pattern=r"^GM\d{4}$")]


class Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Count(Camel):
    """A count, or null with suppressed=true when it is too small to publish to this caller."""

    count: int | None
    suppressed: bool


class Period(Camel):
    from_: date
    to: date

    model_config = ConfigDict(
        alias_generator=lambda name: "from" if name == "from_" else to_camel(name), populate_by_name=True
    )


class MunicipalityFigures(Camel):
    municipality_code: str
    municipality_name: str
    working: Count
    residing: Count
    arrivals: Count
    departures: Count


class MunicipalityStatistics(Camel):
    """Per municipality: active migrants working and residing there, arrivals and departures in a period."""

    threshold: int
    as_of: datetime
    period: Period
    items: list[MunicipalityFigures]


class WorkResidenceCell(Camel):
    work_municipality_code: str
    residence_municipality_code: str
    count: int | None
    suppressed: bool


class MunicipalityCount(Camel):
    municipality_code: str
    count: int | None
    suppressed: bool


class WorkResidenceStatistics(Camel):
    """Where the people who work in a municipality live: non-zero cells with row and column totals."""

    threshold: int
    as_of: datetime
    cells: list[WorkResidenceCell]
    work_totals: list[MunicipalityCount]
    residence_totals: list[MunicipalityCount]
    total: Count


class HousingLocationFigures(Camel):
    housing_location_id: str
    municipality_code: str
    residents: Count


class HousingLocationStatistics(Camel):
    """Active residents per housing location."""

    threshold: int
    as_of: datetime
    items: list[HousingLocationFigures]


class EconomicLocationFigures(Camel):
    economic_location_id: str
    work_municipality_code: str
    working: Count


class EconomicLocationStatistics(Camel):
    """Active migrants working at each economic location, per work municipality."""

    threshold: int
    as_of: datetime
    items: list[EconomicLocationFigures]


class DepartureCell(Camel):
    reason: str
    destination: str
    count: int | None
    suppressed: bool


class LabelCount(Camel):
    label: str
    count: int | None
    suppressed: bool


class DepartureStatistics(Camel):
    """Departures in a period by reason and destination (municipality, abroad, unknown), with totals."""

    threshold: int
    as_of: datetime
    period: Period
    municipality_code: str | None
    cells: list[DepartureCell]
    reason_totals: list[LabelCount]
    destination_totals: list[LabelCount]
    total: Count


def _viewer(principal: Principal) -> str | None:
    if principal.organisation_type == OrganisationType.MUNICIPALITY:
        return principal.municipality_code
    return None


def _exact_for_everything(principal: Principal) -> bool:
    # A client that may see persons gains nothing from suppression; a system client that aggregates
    # further (the housing service's fair share) needs exact inputs and suppresses its own output.
    if principal.has_scope(EXACT_STATISTICS_SCOPE):
        return True
    # Person-level access of a province covers its own province only (its visibility), not the country.
    return principal.has_scope(PERSON_LEVEL_SCOPE) and principal.organisation_type != OrganisationType.PROVINCE


def _period(period_from: date | None, period_to: date | None) -> Period:
    today = date.today()
    end = period_to or max(today, period_from or today)
    start = period_from or date(end.year, 1, 1)
    if end < start:
        raise invalid_input([InvalidParam("periodTo", "lies before periodFrom", "range", "query")])
    return Period(from_=start, to=end)


def _codes(province_code: str | None) -> list[str]:
    refs = municipalities()
    if province_code is None:
        return sorted(refs)
    codes = sorted(c for c, m in refs.items() if m.province_code == province_code)
    if not codes:
        raise invalid_input(
            [InvalidParam("provinceCode", "not a province code in the current list", "unknown", "query")]
        )
    return codes


async def _grouped(session: AsyncSession, column: object, *conditions: object) -> dict[str, int]:
    query = select(column, func.count()).where(*conditions).group_by(column)  # type: ignore[call-overload]
    return {code: count for code, count in (await session.execute(query)).all()}


async def _summed(session: AsyncSession, column: object, *conditions: object) -> dict[str, int]:
    active = RegistrationActiveCount.active
    query = select(column, func.sum(active)).where(active > 0, *conditions).group_by(column)  # type: ignore[call-overload]
    return {code: int(total) for code, total in (await session.execute(query)).all()}


def _count(value: int, hidden: bool) -> Count:
    return Count(count=None if hidden else value, suppressed=hidden)


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
    period_from: Annotated[date | None, Query(alias="periodFrom")] = None,
    period_to: Annotated[date | None, Query(alias="periodTo")] = None,
) -> MunicipalityStatistics:
    codes = _codes(province_code)
    period = _period(period_from, period_to)
    scope = [] if province_code is None else [codes]
    # Active counts from the per-pair table the database keeps (ADR 0017); flows from the registrations.
    pair_work = RegistrationActiveCount.work_municipality_code
    pair_home = RegistrationActiveCount.residence_municipality_code
    working = await _summed(session, pair_work, *(pair_work.in_(c) for c in scope))
    residing = await _summed(session, pair_home, *(pair_home.in_(c) for c in scope))
    home_col = Registration.residence_municipality_code
    arrivals = await _grouped(
        session, home_col, Registration.arrival_date.between(period.from_, period.to), *(home_col.in_(c) for c in scope)
    )
    departures = await _grouped(
        session,
        home_col,
        Registration.departure_date.between(period.from_, period.to),
        *(home_col.in_(c) for c in scope),
    )
    viewer, exact = _viewer(principal), _exact_for_everything(principal)
    threshold = settings.suppression_threshold
    refs = municipalities()

    def figure(values: dict[str, int], code: str) -> Count:
        value = values.get(code, 0)
        return _count(value, not exact and code != viewer and 0 < value < threshold)

    items = [
        MunicipalityFigures(
            municipality_code=code,
            municipality_name=refs[code].name,
            working=figure(working, code),
            residing=figure(residing, code),
            arrivals=figure(arrivals, code),
            departures=figure(departures, code),
        )
        for code in codes
    ]
    return MunicipalityStatistics(threshold=threshold, as_of=datetime.now(UTC), period=period, items=items)


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
    work_municipality_code: Annotated[str | None, Query(alias="workMunicipalityCode", pattern=r"^GM\d{4}$")] = None,
) -> StreamingResponse:
    # Read from the per-pair counts the database keeps (ADR 0017): one row per work municipality with
    # its residence counts as one string ("GM0758:12,GM0777:3"), since fetching ~100,000 rows one
    # by one costs several times more than the whole rest of the request.
    counts = RegistrationActiveCount
    work_col = counts.work_municipality_code
    conditions = [counts.active > 0]
    if province_code is not None:
        conditions.append(work_col.in_(_codes(province_code)))
    if work_municipality_code is not None:
        conditions.append(work_col == work_municipality_code)
    pairs = (
        select(work_col, counts.residence_municipality_code, counts.active)
        .where(*conditions)
        .order_by(work_col, counts.residence_municipality_code)
        .subquery()
    )
    # Aggregated from rows in key order, so the cells usually arrive sorted (suppress_grid sorts anyway).
    joined = func.aggregate_strings(pairs.c.residence_municipality_code + ":" + cast(pairs.c.active, String), ",")
    cells = []
    query = select(pairs.c.work_municipality_code, joined).group_by(pairs.c.work_municipality_code)
    for work, residences in await session.execute(query.order_by(pairs.c.work_municipality_code)):
        for item in residences.split(","):
            residence, _, count = item.partition(":")
            cells.append((work, residence, int(count)))
    viewer, exact = _viewer(principal), _exact_for_everything(principal)
    grid = suppress_grid(cells, settings.suppression_threshold, viewer, exact)
    # A national table has ~100,000 cells (~11 MB): written straight as JSON text (the model above
    # describes the same document; tests validate against it), not through an object per cell, and
    # streamed in slices so that no more than a slice of the text is held at once. Codes are
    # JSON-encoded once each. Everything that can fail is done before the first byte is sent.
    total, total_hidden = grid.total
    quoted = {code: to_json(code).decode() for code, _, _ in grid.rows + grid.cols}
    document = {
        "threshold": settings.suppression_threshold,
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

    return StreamingResponse(body(), media_type="application/json")


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
    housing_location_ids: Annotated[list[str] | None, Query(alias="housingLocationId", max_length=500)] = None,
) -> HousingLocationStatistics:
    location, home_col = Registration.housing_location_id, Registration.residence_municipality_code
    conditions = [Registration.status == "active", location.is_not(None)]
    if municipality_code is not None:
        conditions.append(home_col == municipality_code)
    if housing_location_ids:
        conditions.append(location.in_(housing_location_ids))
    rows = await session.execute(
        select(location, home_col, func.count()).where(*conditions).group_by(location, home_col).order_by(location)
    )
    viewer, exact = _viewer(principal), _exact_for_everything(principal)
    threshold = settings.suppression_threshold
    items = [
        HousingLocationFigures(
            housing_location_id=loc,
            municipality_code=code,
            residents=_count(n, not exact and code != viewer and 0 < n < threshold),
        )
        for loc, code, n in rows.all()
    ]
    return HousingLocationStatistics(threshold=threshold, as_of=datetime.now(UTC), items=items)


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
    economic_location_ids: Annotated[list[str] | None, Query(alias="economicLocationId", max_length=500)] = None,
    province_code: ProvinceCode = None,
) -> EconomicLocationStatistics:
    location, work_col = Registration.economic_location_id, Registration.work_municipality_code
    conditions = [Registration.status == "active", location.is_not(None)]
    if economic_location_ids:
        conditions.append(location.in_(economic_location_ids))
    if province_code is not None:
        conditions.append(work_col.in_(_codes(province_code)))
    rows = await session.execute(
        select(location, work_col, func.count())
        .where(*conditions)
        .group_by(location, work_col)
        .order_by(location, work_col)
    )
    viewer, exact = _viewer(principal), _exact_for_everything(principal)
    threshold = settings.suppression_threshold
    items = [
        EconomicLocationFigures(
            economic_location_id=loc,
            work_municipality_code=code,
            working=_count(n, not exact and code != viewer and 0 < n < threshold),
        )
        for loc, code, n in rows.all()
    ]
    return EconomicLocationStatistics(threshold=threshold, as_of=datetime.now(UTC), items=items)


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
    period_from: Annotated[date | None, Query(alias="periodFrom")] = None,
    period_to: Annotated[date | None, Query(alias="periodTo")] = None,
) -> DepartureStatistics:
    period = _period(period_from, period_to)
    conditions = [Registration.status == "departed", Registration.departure_date.between(period.from_, period.to)]
    if municipality_code is not None:
        conditions.append(Registration.residence_municipality_code == municipality_code)
    destination = func.coalesce(Registration.departure_destination_type, "unknown")
    rows = await session.execute(
        select(Registration.departure_reason, destination, func.count())
        .where(*conditions)
        .group_by(Registration.departure_reason, destination)
    )
    cells = {(reason or "unknown", dest): n for reason, dest, n in rows.all()}
    values = grid_values(cells)
    viewer, exact = _viewer(principal), _exact_for_everything(principal)
    # Filtered to one municipality, every count concerns it; nationwide counts concern many, none exempt.
    own = exact or (municipality_code is not None and municipality_code == viewer)
    hidden = set() if own else suppress(values, grid_lines(cells), lambda _key: False, settings.suppression_threshold)
    return DepartureStatistics(
        threshold=settings.suppression_threshold,
        as_of=datetime.now(UTC),
        period=period,
        municipality_code=municipality_code,
        cells=[
            DepartureCell(
                reason=r,
                destination=d,
                count=None if ("cell", r, d) in hidden else n,
                suppressed=("cell", r, d) in hidden,
            )
            for (r, d), n in sorted(cells.items())
        ],
        reason_totals=[
            LabelCount(label=k[1], count=None if k in hidden else v, suppressed=k in hidden)
            for k, v in sorted(values.items())
            if k[0] == "row"
        ],
        destination_totals=[
            LabelCount(label=k[1], count=None if k in hidden else v, suppressed=k in hidden)
            for k, v in sorted(values.items())
            if k[0] == "col"
        ],
        total=_count(values[("all",)], ("all",) in hidden),
    )
