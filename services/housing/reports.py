"""The fair-share report and the at-risk report: housing's own data joined with registry counts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.auth import OrganisationType, Principal
from lmx_common.disclosure import Disclosure, PTable, cell_key
from services.housing import errors, repository
from services.housing.clients import GatewayClient
from services.housing.fair_share import CellKeys, MemberInput, compute, publish
from services.housing.models import HousingLocation, Region
from services.housing.schemas import (
    AtRiskLocation,
    AtRiskMunicipality,
    AtRiskReport,
    DisclosedCount,
    FairShareItem,
    FairSharePool,
    FairShareReport,
    FairShareTotals,
    PipelineBeds,
)
from services.housing.service import risk_read
from services.housing.statistics import NoFigures, resident_figures, working_figures


def viewer_of(principal: Principal) -> str | None:
    """The municipality whose own counts this caller sees exactly."""
    if principal.organisation_type == OrganisationType.MUNICIPALITY:
        return principal.municipality_code
    return None


def disclosure_for(principal: Principal, table: PTable) -> Disclosure:
    """The caller's view: its own municipality's counts exactly, every other count through the ptable
    (the registry's parameters, so that a figure derived here is perturbed like the registry's cells)."""
    return Disclosure(table, viewer=viewer_of(principal))


def _count(view: Disclosure, cell: tuple[int, int], concerns: str | None) -> DisclosedCount:
    count, exact = view.value(*cell, concerns)
    return DisclosedCount(count=count, exact=exact)


def _pipeline(beds: dict[str, int]) -> PipelineBeds:
    return PipelineBeds(
        planned=beds.get("planned", 0),
        permit_granted=beds.get("permit-granted", 0),
        under_construction=beds.get("under-construction", 0),
    )


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


async def fair_share(
    session: AsyncSession, gateway: GatewayClient, region: Region, principal: Principal, table: PTable
) -> FairShareReport:
    members = await repository.members(session, region.code)
    codes = [m.code for m in members]
    location_ids = await repository.economic_locations_within(session, codes)
    shares = await repository.keys_of(session, location_ids)
    beds = await repository.beds_by_status(session, codes)
    try:
        figures = await working_figures(session, gateway, {m.province_code for m in members}, location_ids)
    except NoFigures as exc:
        raise errors.no_figures(
            "The registry cannot be reached and no earlier figures are kept; try again later."
        ) from exc
    inputs = [
        MemberInput(
            code=m.code,
            name=m.name,
            working=figures.working.get(m.code, (0, 0))[0],
            operational_beds=beds.get(m.code, {}).get("operational", 0),
            pipeline_beds=beds.get(m.code, {}),
        )
        for m in members
    ]
    at_locations = {e: {m: n for m, (n, _) in cells.items()} for e, cells in figures.at_locations.items()}
    result = compute(inputs, at_locations, shares, region.lagging_factor)  # on the exact counts
    keys = CellKeys(
        working={m: key for m, (_, key) in figures.working.items()},
        at_locations={e: {m: key for m, (_, key) in cells.items()} for e, cells in figures.at_locations.items()},
    )
    view = disclosure_for(principal, table)
    shown = publish(result, inputs, shares, keys, view, region.lagging_factor)
    items = []
    for row, published in zip(result.members, shown.members, strict=True):
        items.append(
            FairShareItem(
                municipality_code=row.code,
                municipality_name=row.name,
                working_migrants=DisclosedCount(
                    count=published.working_migrants, exact=published.working_migrants_exact
                ),
                regional_share=round(published.regional_share, 2),
                obligation=round(published.obligation, 2),
                operational_beds=row.operational_beds,
                pipeline_beds=_pipeline(dict(row.pipeline_beds)),
                gap=round(published.gap, 2),
                fulfilment=_round(published.fulfilment, 4),
                status="lagging" if published.lagging else "on-track",
                exact=published.exact,
            )
        )
    return FairShareReport(
        region_code=region.code,
        region_name=region.name,
        region_kind=region.kind,
        as_of=figures.as_of,
        stale=figures.stale,
        lagging_factor=region.lagging_factor,
        lagging_below=_round(shown.lagging_below, 4),
        disclosure_control=view.control,
        economic_location_ids=location_ids,
        pools=[
            FairSharePool(economic_location_id=e, working=DisclosedCount(count=n, exact=exact))
            for e, (n, exact) in sorted(shown.pools.items())
        ],
        totals=FairShareTotals(
            obligation=float(shown.obligation),
            operational_beds=result.operational_beds,
            pipeline_beds=_pipeline(result.pipeline_beds),
            gap=float(shown.gap),
            fulfilment=_round(shown.fulfilment, 4),
            exact=shown.obligation_exact,
        ),
        items=items,
    )


async def at_risk(
    session: AsyncSession,
    gateway: GatewayClient,
    locations: Sequence[HousingLocation],
    principal: Principal,
    table: PTable,
    schemes: Sequence[str],
    municipality_code: str | None,
    region_code: str | None,
) -> AtRiskReport:
    """Residents affected, through the cell-key method: a location's count concerns its municipality; a
    municipality's is the union of its locations (keys add); the report's the union of all of them."""
    risks = await repository.risks_of(session, [loc.landlord_kvk_number for loc in locations], schemes)
    residents = await resident_figures(session, gateway, [loc.id for loc in locations])
    view = disclosure_for(principal, table)

    items = []
    per_municipality: dict[str, list[tuple[HousingLocation, tuple[int, int]]]] = {}
    for loc in locations:
        cell = residents.residents.get(loc.id)
        items.append(
            AtRiskLocation(
                id=loc.id,
                municipality_code=loc.municipality_code,
                name=loc.name,
                status=loc.status,
                beds=loc.beds,
                landlord_kvk_number=loc.landlord_kvk_number,
                residents_affected=None if cell is None else _count(view, cell, loc.municipality_code),
                risks=[risk_read(r) for r in risks.get(loc.landlord_kvk_number, [])],
            )
        )
        per_municipality.setdefault(loc.municipality_code, []).append((loc, cell or (0, 0)))
    municipalities = []
    for code, rows in sorted(per_municipality.items()):
        n, key = sum(c[0] for _, c in rows), cell_key(c[1] for _, c in rows)
        municipalities.append(
            AtRiskMunicipality(
                municipality_code=code,
                locations=len(rows),
                beds=sum(loc.beds for loc, _ in rows),
                residents_affected=_count(view, (n, key), code),
            )
        )
    cells = [c for rows in per_municipality.values() for _, c in rows]
    only = next(iter(per_municipality)) if len(per_municipality) == 1 else None
    return AtRiskReport(
        municipality_code=municipality_code,
        region_code=region_code,
        as_of=residents.as_of,
        stale=residents.stale,
        disclosure_control=view.control,
        locations=len(locations),
        beds=sum(loc.beds for loc in locations),
        residents_affected=_count(view, (sum(c[0] for c in cells), cell_key(c[1] for c in cells)), only),
        municipalities=municipalities,
        items=items,
    )
