"""Statistics: the rules (who sees which count exactly, which periods and areas), over the counts and
key sums the repository answers. Every count leaves through the disclosure layer
(lmx_common/disclosure.py, ADR 0027): exact for the municipality it concerns, perturbed for others."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.auth import OrganisationType, Principal
from lmx_common.disclosure import KEY_RANGE, CalendarPeriod, DisclosedCount, Disclosure, PTable
from lmx_common.problems import InvalidParam, invalid_input
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

EMPTY: Cell = (0, 0)


def disclosure(principal: Principal, table: PTable) -> Disclosure:
    """This caller's view: its own municipality's counts exactly; every count exactly for a client
    that may see the persons behind them; cell keys for a client that re-publishes counts itself."""
    viewer = principal.municipality_code if principal.organisation_type == OrganisationType.MUNICIPALITY else None
    return Disclosure(
        table,
        viewer=viewer,
        exact=_exact_for_everything(principal),
        with_keys=principal.has_scope(EXACT_STATISTICS_SCOPE),
    )


def _exact_for_everything(principal: Principal) -> bool:
    # A client that may see persons gains nothing from perturbation; a system client that aggregates
    # further (the housing service's fair share) needs exact inputs and perturbs its own output.
    if principal.has_scope(EXACT_STATISTICS_SCOPE):
        return True
    # Person-level access of a province covers its own province only (its visibility), not the country.
    return principal.has_scope(PERSON_LEVEL_SCOPE) and principal.organisation_type != OrganisationType.PROVINCE


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


def _key(cell: Cell) -> int:
    return cell[1] % KEY_RANGE


def _sum(cells: Iterable[Cell]) -> Cell:
    n, k = 0, 0
    for count, key in cells:
        n, k = n + count, k + key
    return n, k


def _concerns_all(codes: Sequence[str] | None) -> Sequence[str] | None:
    """A count over these municipalities concerns a viewer only when it is the only one."""
    return codes if codes is not None and len(codes) == 1 else None


async def by_municipality(
    session: AsyncSession, principal: Principal, table: PTable, where: Area, period_name: str | None
) -> MunicipalityStatistics:
    codes = where.codes if where.codes is not None else sorted(municipalities())
    when = period(period_name)
    scope = where.codes
    # Active counts from the per-pair table the database keeps (ADR 0017); flows from the registrations.
    working = await repository.active_by_municipality(session, "work", scope)
    residing = await repository.active_by_municipality(session, "residence", scope)
    arrivals = await repository.flows_by_residence(session, "arrival", when.from_, when.to, scope)
    departures = await repository.flows_by_residence(session, "departure", when.from_, when.to, scope)
    view = disclosure(principal, table)
    refs = municipalities()

    def count(cells: dict[str, Cell], code: str) -> DisclosedCount:
        n, key = cells.get(code, EMPTY)
        return view.count(n, key % KEY_RANGE, code)

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
    return MunicipalityStatistics(disclosure_control=view.control, as_of=datetime.now(UTC), period=when, items=items)


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
    is not the sum of the published cells, and subtracting published cells from it gives noise."""
    work_codes = where.codes
    if work_municipality_code is not None:
        work_codes = [c for c in (work_codes or [work_municipality_code]) if c == work_municipality_code]
    cells = await repository.work_residence_pairs(session, work_codes, None)
    view = disclosure(principal, table)
    viewer, exact_all, keys = view.viewer, view.exact, view.with_keys
    rows: dict[str, list[int]] = {}
    cols: dict[str, list[int]] = {}
    published: list[tuple[str, str, int, bool, int]] = []
    perturb = table.published
    for work, residence, n, key_sum in cells:
        key = key_sum % KEY_RANGE
        row = rows.setdefault(work, [0, 0])
        row[0] += n
        row[1] += key
        col = cols.setdefault(residence, [0, 0])
        col[0] += n
        col[1] += key
        if exact_all or work == viewer or residence == viewer:
            published.append((work, residence, n, True, key if keys else -1))
            continue
        value = perturb(n, key)
        if value:
            published.append((work, residence, value, False, key if keys else -1))

    def totals(lines: dict[str, list[int]]) -> list[tuple[str, int, bool, int]]:
        out = []
        for code in sorted(lines):
            n, key_sum = lines[code]
            value, exact = view.value(n, key_sum % KEY_RANGE, code)
            if value or exact:
                out.append((code, value, exact, key_sum % KEY_RANGE if keys else -1))
        return out

    grand_n, grand_key = _sum((r[0], r[1]) for r in rows.values())
    grand_value, grand_exact = view.value(grand_n, grand_key % KEY_RANGE, _concerns_all(sorted(rows)))
    return PublishedGrid(
        cells=published,
        rows=totals(rows),
        cols=totals(cols),
        total=(grand_value, grand_exact, grand_key % KEY_RANGE if keys else -1),
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
    rows = await repository.residents_by_housing_location(session, codes, housing_location_ids)
    view = disclosure(principal, table)
    items = []
    for loc, code, n, key_sum in rows:
        count = view.count(n, key_sum % KEY_RANGE, code)
        if count.count or count.exact:
            items.append(HousingLocationFigures(housing_location_id=loc, municipality_code=code, residents=count))
    return HousingLocationStatistics(disclosure_control=view.control, as_of=datetime.now(UTC), items=items)


async def by_economic_location(
    session: AsyncSession,
    principal: Principal,
    table: PTable,
    economic_location_ids: list[str] | None,
    where: Area,
) -> EconomicLocationStatistics:
    rows = await repository.working_by_economic_location(session, economic_location_ids, where.codes)
    view = disclosure(principal, table)
    items = []
    for loc, code, n, key_sum in rows:
        count = view.count(n, key_sum % KEY_RANGE, code)
        if count.count or count.exact:
            items.append(EconomicLocationFigures(economic_location_id=loc, work_municipality_code=code, working=count))
    return EconomicLocationStatistics(disclosure_control=view.control, as_of=datetime.now(UTC), items=items)


async def departures(
    session: AsyncSession, principal: Principal, table: PTable, where: Area, period_name: str | None
) -> DepartureStatistics:
    when = period(period_name)
    cells = await repository.departures_by_reason_and_destination(session, when.from_, when.to, where.codes)
    view = disclosure(principal, table)
    # Every departure here concerns its residence municipality: exact only when the area is the viewer's.
    concerns = _concerns_all(where.codes)
    reasons: dict[str, list[Cell]] = {}
    destinations: dict[str, list[Cell]] = {}
    for (reason, destination), cell in cells.items():
        reasons.setdefault(reason, []).append(cell)
        destinations.setdefault(destination, []).append(cell)

    def shown(cell: Cell) -> tuple[int, bool, int | None] | None:
        value, exact = view.value(cell[0], _key(cell), concerns)
        if not (value or exact):
            return None
        return value, exact, _key(cell) if view.with_keys else None

    out_cells = []
    for (reason, destination), cell in sorted(cells.items()):
        if (s := shown(cell)) is not None:
            out_cells.append(
                DepartureCell(reason=reason, destination=destination, count=s[0], exact=s[1], cell_key=s[2])
            )
    reason_totals, destination_totals = [], []
    for label, parts in sorted(reasons.items()):
        if (s := shown(_sum(parts))) is not None:
            reason_totals.append(LabelCount(label=label, count=s[0], exact=s[1], cell_key=s[2]))
    for label, parts in sorted(destinations.items()):
        if (s := shown(_sum(parts))) is not None:
            destination_totals.append(LabelCount(label=label, count=s[0], exact=s[1], cell_key=s[2]))
    total = _sum(cells.values())
    return DepartureStatistics(
        disclosure_control=view.control,
        as_of=datetime.now(UTC),
        period=when,
        municipality_code=where.municipality_code,
        province_code=where.province_code,
        region_code=where.region_code,
        cells=out_cells,
        reason_totals=reason_totals,
        destination_totals=destination_totals,
        total=view.count(total[0], _key(total), concerns),
    )
