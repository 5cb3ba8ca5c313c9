"""Statistics: the rules (who sees which count exactly, which periods and provinces), over the
counts the repository answers. Small counts are suppressed by services.registry.suppression."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.auth import OrganisationType, Principal
from lmx_common.problems import InvalidParam, invalid_input
from lmx_common.reference import municipalities
from services.registry import repository
from services.registry.statistics_schemas import (
    Count,
    DepartureCell,
    DepartureStatistics,
    EconomicLocationFigures,
    EconomicLocationStatistics,
    HousingLocationFigures,
    HousingLocationStatistics,
    LabelCount,
    MunicipalityFigures,
    MunicipalityStatistics,
    Period,
)
from services.registry.suppression import SuppressedGrid, grid_lines, grid_values, is_small, suppress, suppress_grid
from services.registry.visibility import EXACT_STATISTICS_SCOPE, PERSON_LEVEL_SCOPE


@dataclass(frozen=True, slots=True)
class Audience:
    """Who asks, as far as suppression goes: the municipality whose own counts it sees exactly (if
    any), whether it sees every count exactly, and the threshold."""

    viewer: str | None
    exact: bool
    threshold: int

    @classmethod
    def of(cls, principal: Principal, threshold: int) -> Audience:
        viewer = principal.municipality_code if principal.organisation_type == OrganisationType.MUNICIPALITY else None
        return cls(viewer, _exact_for_everything(principal), threshold)

    def count(self, value: int, concerns: str) -> Count:
        """A count that concerns one municipality: hidden when small, unless the viewer is entitled."""
        hidden = is_small(value, self.threshold) and not (self.exact or concerns == self.viewer)
        return Count(count=None if hidden else value, suppressed=hidden)


def _exact_for_everything(principal: Principal) -> bool:
    # A client that may see persons gains nothing from suppression; a system client that aggregates
    # further (the housing service's fair share) needs exact inputs and suppresses its own output.
    if principal.has_scope(EXACT_STATISTICS_SCOPE):
        return True
    # Person-level access of a province covers its own province only (its visibility), not the country.
    return principal.has_scope(PERSON_LEVEL_SCOPE) and principal.organisation_type != OrganisationType.PROVINCE


def period(period_from: date | None, period_to: date | None) -> Period:
    today = date.today()
    end = period_to or max(today, period_from or today)
    start = period_from or date(end.year, 1, 1)
    if end < start:
        raise invalid_input([InvalidParam("periodTo", "lies before periodFrom", "range", "query")])
    return Period(from_=start, to=end)


def municipality_codes(province_code: str | None) -> list[str]:
    refs = municipalities()
    if province_code is None:
        return sorted(refs)
    codes = sorted(c for c, m in refs.items() if m.province_code == province_code)
    if not codes:
        raise invalid_input(
            [InvalidParam("provinceCode", "not a province code in the current list", "unknown", "query")]
        )
    return codes


async def by_municipality(
    session: AsyncSession,
    principal: Principal,
    threshold: int,
    province_code: str | None,
    period_from: date | None,
    period_to: date | None,
) -> MunicipalityStatistics:
    codes = municipality_codes(province_code)
    when = period(period_from, period_to)
    scope = None if province_code is None else codes
    # Active counts from the per-pair table the database keeps (ADR 0017); flows from the registrations.
    working = await repository.active_by_municipality(session, "work", scope)
    residing = await repository.active_by_municipality(session, "residence", scope)
    arrivals = await repository.flows_by_residence(session, "arrival", when.from_, when.to, scope)
    departures = await repository.flows_by_residence(session, "departure", when.from_, when.to, scope)
    audience = Audience.of(principal, threshold)
    refs = municipalities()
    items = [
        MunicipalityFigures(
            municipality_code=code,
            municipality_name=refs[code].name,
            working=audience.count(working.get(code, 0), code),
            residing=audience.count(residing.get(code, 0), code),
            arrivals=audience.count(arrivals.get(code, 0), code),
            departures=audience.count(departures.get(code, 0), code),
        )
        for code in codes
    ]
    return MunicipalityStatistics(threshold=threshold, as_of=datetime.now(UTC), period=when, items=items)


async def work_residence(
    session: AsyncSession,
    principal: Principal,
    threshold: int,
    province_code: str | None,
    work_municipality_code: str | None,
) -> SuppressedGrid:
    """The cross-table of active registrations (work, residence) with its totals, suppressed for the
    caller (the viewer's own row and column exempt)."""
    work_codes = None if province_code is None else municipality_codes(province_code)
    cells = await repository.work_residence_pairs(session, work_codes, work_municipality_code)
    audience = Audience.of(principal, threshold)
    return suppress_grid(cells, threshold, audience.viewer, audience.exact)


async def by_housing_location(
    session: AsyncSession,
    principal: Principal,
    threshold: int,
    municipality_code: str | None,
    housing_location_ids: list[str] | None,
) -> HousingLocationStatistics:
    rows = await repository.residents_by_housing_location(session, municipality_code, housing_location_ids)
    audience = Audience.of(principal, threshold)
    items = [
        HousingLocationFigures(housing_location_id=loc, municipality_code=code, residents=audience.count(n, code))
        for loc, code, n in rows
    ]
    return HousingLocationStatistics(threshold=threshold, as_of=datetime.now(UTC), items=items)


async def by_economic_location(
    session: AsyncSession,
    principal: Principal,
    threshold: int,
    economic_location_ids: list[str] | None,
    province_code: str | None,
) -> EconomicLocationStatistics:
    work_codes = None if province_code is None else municipality_codes(province_code)
    rows = await repository.working_by_economic_location(session, economic_location_ids, work_codes)
    audience = Audience.of(principal, threshold)
    items = [
        EconomicLocationFigures(economic_location_id=loc, work_municipality_code=code, working=audience.count(n, code))
        for loc, code, n in rows
    ]
    return EconomicLocationStatistics(threshold=threshold, as_of=datetime.now(UTC), items=items)


async def departures(
    session: AsyncSession,
    principal: Principal,
    threshold: int,
    municipality_code: str | None,
    period_from: date | None,
    period_to: date | None,
) -> DepartureStatistics:
    when = period(period_from, period_to)
    cells = await repository.departures_by_reason_and_destination(session, when.from_, when.to, municipality_code)
    values = grid_values(cells)
    audience = Audience.of(principal, threshold)
    # Filtered to one municipality, every count concerns it; nationwide counts concern many, none exempt.
    own = audience.exact or (municipality_code is not None and municipality_code == audience.viewer)
    hidden = set() if own else suppress(values, grid_lines(cells), lambda _key: False, threshold)
    return DepartureStatistics(
        threshold=threshold,
        as_of=datetime.now(UTC),
        period=when,
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
        total=Count(count=None if ("all",) in hidden else values[("all",)], suppressed=("all",) in hidden),
    )
