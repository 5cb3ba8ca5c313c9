"""Statistics: the rules (who sees which count exactly, which periods and areas), over the counts and
key sums the repository answers. Every count leaves through the disclosure layer
(lmx_common/disclosure.py, ADR 0027): exact for the municipality it concerns, perturbed for others."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.auth import OrganisationType, Principal
from lmx_common.disclosure import KEY_RANGE, CalendarPeriod, DisclosedCount, Disclosure, PTable
from lmx_common.problems import InvalidParam, forbidden, invalid_input
from lmx_common.reference import municipalities, regions
from services.registry import repository
from services.registry.repository import Cell
from services.registry.statistics_schemas import (
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
from services.registry.visibility import EXACT_STATISTICS_SCOPE, PERSON_LEVEL_SCOPE

EMPTY: Cell = (0, 0, 0, 0)


@dataclass(frozen=True)
class Viewer:
    """One caller as the statistics see it: the disclosure view, and the municipalities whose records
    are its own (those working or residing there: the registrations it sees at person level, and can
    register, change and depart). Its own part of every count is exact, the rest perturbed on its own
    key (Disclosure.split_value), so changing its own records never redraws anyone else's noise."""

    view: Disclosure
    own_codes: tuple[str, ...] | None

    def own(self, work: str, residence: str) -> bool:
        codes = self.own_codes
        return codes is not None and (work in codes or residence in codes)

    def count(self, cell: Cell) -> DisclosedCount:
        n, key, own_n, own_key = cell
        return self.view.split_count(n, key % KEY_RANGE, own_n, own_key % KEY_RANGE)

    def value(self, cell: Cell) -> tuple[int, bool]:
        n, key, own_n, own_key = cell
        return self.view.split_value(n, key % KEY_RANGE, own_n, own_key % KEY_RANGE)


def viewer(principal: Principal, table: PTable) -> Viewer:
    """This caller's view: the records it sees at person level exactly, every count exactly for a
    client that may see every person or re-publishes counts (with their cell keys) itself."""
    kind = principal.organisation_type
    if kind == OrganisationType.INFORMATION_POINT:
        # Its records are those it registered, anywhere: not a part of any count it could be given.
        raise forbidden("Statistics are not given to information points: they register people, anywhere.")
    exact = principal.has_scope(EXACT_STATISTICS_SCOPE)
    own: tuple[str, ...] | None = None
    if kind == OrganisationType.MUNICIPALITY and principal.municipality_code:
        own = (principal.municipality_code,)
    elif principal.has_scope(PERSON_LEVEL_SCOPE):
        if kind == OrganisationType.PROVINCE and principal.province_code:
            own = tuple(sorted(c for c, m in municipalities().items() if m.province_code == principal.province_code))
        else:
            exact = True  # person-level access to everyone (national, service clients)
    municipality = principal.municipality_code if kind == OrganisationType.MUNICIPALITY else None
    view = Disclosure(table, viewer=municipality, exact=exact, with_keys=principal.has_scope(EXACT_STATISTICS_SCOPE))
    return Viewer(view, own)


def period(name: str | None, today: date | None = None) -> Period:
    """A fixed calendar period (default: the current year)."""
    try:
        chosen = CalendarPeriod.parse(name) if name else CalendarPeriod.current_year(today or date.today())
    except ValueError as exc:
        raise invalid_input([InvalidParam("period", str(exc), "pattern", "query")]) from exc
    return Period(name=chosen.name, from_=chosen.start, to=chosen.end)


@dataclass(frozen=True)
class Area:
    """The municipalities a filter selects (None: the whole country), and which filter it was."""

    codes: list[str] | None
    province_code: str | None = None
    region_code: str | None = None
    municipality_code: str | None = None


def area(
    province_code: str | None = None, region_code: str | None = None, municipality_code: str | None = None
) -> Area:
    """At most one of a province, a region or a municipality (an unknown code is a 400)."""
    given = [
        (n, v)
        for n, v in (
            ("provinceCode", province_code),
            ("regionCode", region_code),
            ("municipalityCode", municipality_code),
        )
        if v
    ]
    if len(given) > 1:
        raise invalid_input(
            [
                InvalidParam(name, "give at most one of provinceCode, regionCode, municipalityCode", "one-of", "query")
                for name, _ in given
            ]
        )
    refs = municipalities()
    if province_code is not None:
        codes = sorted(c for c, m in refs.items() if m.province_code == province_code)
        if not codes:
            raise invalid_input(
                [InvalidParam("provinceCode", "not a province code in the current list", "unknown", "query")]
            )
        return Area(codes, province_code=province_code)
    if region_code is not None:
        region = regions().get(region_code)
        if region is None:
            raise invalid_input([InvalidParam("regionCode", "not a region in the current list", "unknown", "query")])
        return Area(sorted(region.municipality_codes), region_code=region_code)
    if municipality_code is not None:
        if municipality_code not in refs:
            raise invalid_input(
                [InvalidParam("municipalityCode", "not a municipality code in the current list", "unknown", "query")]
            )
        return Area([municipality_code], municipality_code=municipality_code)
    return Area(None)


def _sum(cells: Iterable[Cell]) -> Cell:
    n, k, own_n, own_k = 0, 0, 0, 0
    for count, key, own_count, own_key in cells:
        n, k, own_n, own_k = n + count, k + key, own_n + own_count, own_k + own_key
    return n, k, own_n, own_k


async def by_municipality(
    session: AsyncSession, principal: Principal, table: PTable, where: Area, period_name: str | None
) -> MunicipalityStatistics:
    codes = where.codes if where.codes is not None else sorted(municipalities())
    when = period(period_name)
    scope = where.codes
    # Active counts from the per-pair table the database keeps (ADR 0017); flows from the registrations.
    who = viewer(principal, table)
    own = who.own_codes
    working = await repository.active_by_municipality(session, "work", scope, own)
    residing = await repository.active_by_municipality(session, "residence", scope, own)
    arrivals = await repository.flows_by_residence(session, "arrival", when.from_, when.to, scope, own)
    departures = await repository.flows_by_residence(session, "departure", when.from_, when.to, scope, own)
    refs = municipalities()

    def count(cells: dict[str, Cell], code: str) -> DisclosedCount:
        return who.count(cells.get(code, EMPTY))

    items = [
        MunicipalityFigures(
            municipality_code=code,
            municipality_name=refs[code].name,
            working=count(working, code),
            residing=count(residing, code),
            arrivals=count(arrivals, code),
            departures=count(departures, code),
        )
        for code in codes
    ]
    return MunicipalityStatistics(
        disclosure_control=who.view.control, as_of=datetime.now(UTC), period=when, items=items
    )


@dataclass(frozen=True)
class PublishedGrid:
    """The work x residence table as published to one caller: (work, residence, count, exact, key)
    for every cell with a published count above 0, the row and column totals likewise, the grand total."""

    cells: list[tuple[str, str, int, bool, int]]
    rows: list[tuple[str, int, bool, int]]
    cols: list[tuple[str, int, bool, int]]
    total: tuple[int, bool, int]
    view: Disclosure


async def work_residence(
    session: AsyncSession,
    principal: Principal,
    table: PTable,
    where: Area,
    work_municipality_code: str | None,
) -> PublishedGrid:
    """The cross-table of active registrations (work, residence) with its totals, for this caller.

    Each cell, each total and the grand total is its own set of records, so its own cell key: a total
    is not the sum of the published cells, and subtracting published cells from it gives noise. A pair
    is wholly the caller's own or not at all; a total's own part is the sum of its own pairs. The
    totals are summed by the database; Python only looks up the ~100,000 cells of a national table."""
    work_codes = where.codes
    if work_municipality_code is not None:
        work_codes = [c for c in (work_codes or [work_municipality_code]) if c == work_municipality_code]
    who = viewer(principal, table)
    row_cells = await repository.active_totals(session, "work", work_codes, who.own_codes)
    col_cells = await repository.active_totals(session, "residence", work_codes, who.own_codes)
    view = who.view
    keys = view.with_keys
    published: list[tuple[str, str, int, bool, int]] = []
    append = published.append
    if view.exact:
        for work, residence, n, key_sum in await repository.work_residence_pairs(session, work_codes, None):
            append((work, residence, n, True, key_sum % KEY_RANGE if keys else -1))
    else:
        for work, residence, value, exact in await repository.work_residence_published(
            session, work_codes, who.own_codes, table
        ):
            append((work, residence, value, exact, -1))

    def totals(lines: dict[str, Cell]) -> list[tuple[str, int, bool, int]]:
        out = []
        for code in sorted(lines):
            value, exact = who.value(lines[code])
            if value or exact:
                out.append((code, value, exact, lines[code][1] % KEY_RANGE if keys else -1))
        return out

    grand = _sum(row_cells.values())
    grand_value, grand_exact = who.value(grand)
    return PublishedGrid(
        cells=published,
        rows=totals(row_cells),
        cols=totals(col_cells),
        total=(grand_value, grand_exact, grand[1] % KEY_RANGE if keys else -1),
        view=view,
    )


async def by_housing_location(
    session: AsyncSession,
    principal: Principal,
    table: PTable,
    municipality_code: str | None,
    housing_location_ids: list[str] | None,
) -> HousingLocationStatistics:
    codes = None if municipality_code is None else [municipality_code]
    who = viewer(principal, table)
    rows = await repository.residents_by_housing_location(session, codes, housing_location_ids, who.own_codes)
    items = []
    for loc, code, cell in rows:
        count = who.count(cell)
        if count.count or count.exact:
            items.append(HousingLocationFigures(housing_location_id=loc, municipality_code=code, residents=count))
    return HousingLocationStatistics(disclosure_control=who.view.control, as_of=datetime.now(UTC), items=items)


async def by_economic_location(
    session: AsyncSession,
    principal: Principal,
    table: PTable,
    economic_location_ids: list[str] | None,
    where: Area,
) -> EconomicLocationStatistics:
    who = viewer(principal, table)
    rows = await repository.working_by_economic_location(session, economic_location_ids, where.codes, who.own_codes)
    items = []
    for loc, code, cell in rows:
        count = who.count(cell)
        if count.count or count.exact:
            items.append(EconomicLocationFigures(economic_location_id=loc, work_municipality_code=code, working=count))
    return EconomicLocationStatistics(disclosure_control=who.view.control, as_of=datetime.now(UTC), items=items)


async def departures(
    session: AsyncSession, principal: Principal, table: PTable, where: Area, period_name: str | None
) -> DepartureStatistics:
    when = period(period_name)
    who = viewer(principal, table)
    cells = await repository.departures_by_reason_and_destination(
        session, when.from_, when.to, where.codes, who.own_codes
    )
    reasons: dict[str, list[Cell]] = {}
    destinations: dict[str, list[Cell]] = {}
    for (reason, destination), cell in cells.items():
        reasons.setdefault(reason, []).append(cell)
        destinations.setdefault(destination, []).append(cell)

    def shown(cell: Cell) -> DisclosedCount | None:
        count = who.count(cell)
        return count if count.count or count.exact else None

    out_cells = []
    for (reason, destination), cell in sorted(cells.items()):
        if (c := shown(cell)) is not None:
            out_cells.append(DepartureCell(reason=reason, destination=destination, **_fields(c)))
    reason_totals = [
        LabelCount(label=label, **_fields(c)) for label, parts in sorted(reasons.items()) if (c := shown(_sum(parts)))
    ]
    destination_totals = [
        LabelCount(label=label, **_fields(c))
        for label, parts in sorted(destinations.items())
        if (c := shown(_sum(parts)))
    ]
    return DepartureStatistics(
        disclosure_control=who.view.control,
        as_of=datetime.now(UTC),
        period=when,
        municipality_code=where.municipality_code,
        province_code=where.province_code,
        region_code=where.region_code,
        cells=out_cells,
        reason_totals=reason_totals,
        destination_totals=destination_totals,
        total=who.count(_sum(cells.values())),
    )


def _fields(count: DisclosedCount) -> dict[str, Any]:
    return {"count": count.count, "exact": count.exact, "cell_key": count.cell_key}
