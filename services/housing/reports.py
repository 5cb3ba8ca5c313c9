"""The fair-share report and the at-risk report: housing's own data joined with registry counts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.auth import OrganisationType, Principal
from services.housing import errors, repository
from services.housing.clients import GatewayClient
from services.housing.fair_share import MemberInput, compute, publish_sum, withhold
from services.housing.models import HousingLocation, Region
from services.housing.schemas import (
    AtRiskLocation,
    AtRiskMunicipality,
    AtRiskReport,
    Count,
    FairShareItem,
    FairShareReport,
    FairShareTotals,
    PipelineBeds,
)
from services.housing.service import risk_read
from services.housing.statistics import NoFigures, resident_figures, working_figures


def viewer_of(principal: Principal) -> str | None:
    """The municipality whose own small counts this caller may see."""
    if principal.organisation_type == OrganisationType.MUNICIPALITY:
        return principal.municipality_code
    return None


def _pipeline(beds: dict[str, int]) -> PipelineBeds:
    return PipelineBeds(
        planned=beds.get("planned", 0),
        permit_granted=beds.get("permit-granted", 0),
        under_construction=beds.get("under-construction", 0),
    )


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


async def fair_share(
    session: AsyncSession, gateway: GatewayClient, region: Region, principal: Principal, threshold: int
) -> FairShareReport:
    members = await repository.members(session, region.code)
    codes = [m.code for m in members]
    location_ids = await repository.economic_locations_within(session, codes)
    keys = await repository.keys_of(session, location_ids)
    beds = await repository.beds_by_status(session, codes)
    try:
        figures = await working_figures(session, gateway, {m.province_code for m in members}, location_ids)
    except NoFigures as exc:
        raise errors.no_figures(
            "The registry cannot be reached and no earlier figures are kept; try again later."
        ) from exc
    result = compute(
        [
            MemberInput(
                code=m.code,
                name=m.name,
                working=figures.working.get(m.code, 0),
                operational_beds=beds.get(m.code, {}).get("operational", 0),
                pipeline_beds=beds.get(m.code, {}),
            )
            for m in members
        ],
        figures.at_locations,
        keys,
        region.lagging_factor,
    )
    hidden = withhold(result, viewer_of(principal), threshold)
    items = []
    for row in result.members:
        withheld = row.code in hidden.rows
        share_hidden = hidden.shares
        items.append(
            FairShareItem(
                municipality_code=row.code,
                municipality_name=row.name,
                working_migrants=None if withheld else row.working_migrants,
                regional_share=None if share_hidden else round(row.regional_share, 2),
                obligation=None if withheld else round(row.obligation, 2),
                operational_beds=row.operational_beds,
                pipeline_beds=_pipeline(dict(row.pipeline_beds)),
                gap=None if withheld else round(row.gap, 2),
                fulfilment=None if withheld else _round(row.fulfilment, 4),
                status="lagging" if row.lagging else "on-track",
                suppressed=withheld or share_hidden,
            )
        )
    return FairShareReport(
        region_code=region.code,
        region_name=region.name,
        region_kind=region.kind,
        as_of=figures.as_of,
        stale=figures.stale,
        lagging_factor=region.lagging_factor,
        lagging_below=None if hidden.totals else _round(result.lagging_below, 4),
        threshold=threshold,
        economic_location_ids=location_ids,
        totals=FairShareTotals(
            obligation=None if hidden.totals else round(result.obligation, 2),
            operational_beds=result.operational_beds,
            pipeline_beds=_pipeline(result.pipeline_beds),
            gap=None if hidden.totals else round(result.obligation - result.operational_beds, 2),
            fulfilment=None if hidden.totals else _round(result.fulfilment, 4),
        ),
        items=items,
    )


async def at_risk(
    session: AsyncSession,
    gateway: GatewayClient,
    locations: Sequence[HousingLocation],
    principal: Principal,
    threshold: int,
    schemes: Sequence[str],
    municipality_code: str | None,
    region_code: str | None,
) -> AtRiskReport:
    risks = await repository.risks_of(session, [loc.landlord_kvk_number for loc in locations], schemes)
    residents = await resident_figures(session, gateway, [loc.id for loc in locations])
    viewer = viewer_of(principal)

    def count(n: int | None, code: str) -> Count:
        if n is None:
            return Count(count=None, suppressed=False)
        hide = code != viewer and 0 < n < threshold
        return Count(count=None if hide else n, suppressed=hide)

    items = []
    per_municipality: dict[str, list[tuple[HousingLocation, Count, int]]] = {}
    for loc in locations:
        n = residents.residents.get(loc.id)
        shown = count(n, loc.municipality_code)
        items.append(
            AtRiskLocation(
                id=loc.id,
                municipality_code=loc.municipality_code,
                name=loc.name,
                status=loc.status,
                beds=loc.beds,
                landlord_kvk_number=loc.landlord_kvk_number,
                residents_affected=shown,
                risks=[risk_read(r) for r in risks.get(loc.landlord_kvk_number, [])],
            )
        )
        per_municipality.setdefault(loc.municipality_code, []).append((loc, shown, n or 0))
    municipalities = []
    totals: list[tuple[int, bool]] = []
    for code, rows in sorted(per_municipality.items()):
        total, hide = publish_sum([(n, shown.suppressed) for _, shown, n in rows], threshold)
        hide = hide and code != viewer
        municipalities.append(
            AtRiskMunicipality(
                municipality_code=code,
                locations=len(rows),
                beds=sum(loc.beds for loc, _, _ in rows),
                residents_affected=Count(count=None if hide else total, suppressed=hide),
            )
        )
        totals.append((total, hide))
    total, hide = publish_sum(totals, threshold)
    hide = hide and not (len(per_municipality) == 1 and viewer in per_municipality)
    return AtRiskReport(
        municipality_code=municipality_code,
        region_code=region_code,
        as_of=residents.as_of,
        stale=residents.stale,
        threshold=threshold,
        locations=len(locations),
        beds=sum(loc.beds for loc in locations),
        residents_affected=Count(count=None if hide else total, suppressed=hide),
        municipalities=municipalities,
        items=items,
    )
