"""The housing rules: who manages which location, the pipeline, occupancy, economic locations and keys.

Raises domain errors; knows no HTTP. Flushes only: the request's session commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common import problems
from lmx_common.auth import OrganisationType, Principal
from lmx_common.problems import InvalidParam
from services.housing import repository
from services.housing.models import (
    CertificateStanding,
    EconomicLocation,
    HousingLocation,
    OccupancyReport,
)
from services.housing.schemas import (
    Address,
    DistributionKeyItem,
    DistributionKeyRead,
    EconomicLocationCreate,
    EconomicLocationRead,
    HousingLocationCreate,
    HousingLocationRead,
    HousingLocationUpdate,
    Occupancy,
    OccupancyReportCreate,
    Risk,
    StatusChangeCreate,
    StatusDates,
)

PIPELINE = ("planned", "permit-granted", "under-construction", "operational", "closed")
DATE_COLUMN = {
    "planned": "planned_on",
    "permit-granted": "permit_granted_on",
    "under-construction": "construction_started_on",
    "operational": "operational_since",
    "closed": "closed_on",
}
KEY_SUM_TOLERANCE = 1e-6
# Occupancy is reported for a day between this and today: no location of the exchange reports
# earlier (a 1900 date was a typo, and would sit first in every history). Not the planned date:
# locations are often entered after they opened, with their status dates unrecorded.
EARLIEST_OCCUPANCY_DATE = date(2000, 1, 1)


def today() -> date:
    return datetime.now(UTC).date()


def _own_municipality(principal: Principal) -> str:
    if principal.organisation_type != OrganisationType.MUNICIPALITY or not principal.municipality_code:
        raise problems.forbidden("Only a municipality manages housing locations and economic locations.")
    return principal.municipality_code


def require_manager(principal: Principal, municipality_code: str) -> None:
    if _own_municipality(principal) != municipality_code:
        raise problems.forbidden("A municipality manages only its own locations.")


# Housing locations.


async def create_location(session: AsyncSession, principal: Principal, body: HousingLocationCreate) -> HousingLocation:
    own = _own_municipality(principal)
    municipality = body.municipality_code or own
    require_manager(principal, municipality)
    day = body.status_date or today()
    if day > today():
        raise problems.invalid(InvalidParam("statusDate", "must not be in the future", "range", "body"))
    location_id = body.id or f"hl-{uuid.uuid4().hex[:16]}"
    if await repository.housing_location(session, location_id) is not None:
        raise problems.conflict(f"A housing location {location_id} exists already.")
    now = datetime.now(UTC)
    row = HousingLocation(
        id=location_id,
        municipality_code=municipality,
        name=body.name,
        postcode=body.address.postcode,
        house_number=body.address.house_number,
        kind=body.kind,
        form=body.form,
        beds=body.beds,
        landlord_kvk_number=body.landlord_kvk_number,
        status=body.status,
        expected_opening_on=body.expected_opening_date,
        created_by_oin=principal.organisation_oin,
        created_at=now,
        updated_at=now,
        version=1,
    )
    setattr(row, DATE_COLUMN[body.status], day)
    session.add(row)
    await session.flush()
    return row


def update_location(row: HousingLocation, patch: HousingLocationUpdate) -> HousingLocation:
    """Apply a merge patch already parsed into ``patch`` (only the fields it names)."""
    fields = patch.model_fields_set
    required = {"address", "kind", "form", "beds", "landlord_kvk_number"}
    nulls = [f for f in fields & required if getattr(patch, f) is None]
    if nulls:
        raise problems.invalid(
            *(
                InvalidParam(HousingLocationUpdate.model_fields[f].alias or f, "may not be removed", "required", "body")
                for f in sorted(nulls)
            )
        )
    if "name" in fields:
        row.name = patch.name
    if patch.address is not None:
        row.postcode, row.house_number = patch.address.postcode, patch.address.house_number
    if patch.kind is not None:
        row.kind = patch.kind
    if patch.form is not None:
        row.form = patch.form
    if patch.beds is not None:
        row.beds = patch.beds
    if patch.landlord_kvk_number is not None:
        row.landlord_kvk_number = patch.landlord_kvk_number
    if "expected_opening_date" in fields:
        row.expected_opening_on = patch.expected_opening_date
    row.updated_at = datetime.now(UTC)
    row.version += 1
    return row


def _status_date(row: HousingLocation) -> date | None:
    value: date | None = getattr(row, DATE_COLUMN[row.status])
    return value


async def change_status(session: AsyncSession, row: HousingLocation, body: StatusChangeCreate) -> HousingLocation:
    """Move along the pipeline: only forward (skipping steps is allowed), or to closed from anywhere."""
    current = PIPELINE.index(row.status)
    wanted = PIPELINE.index(body.status)
    if wanted <= current:
        allowed = ", ".join(PIPELINE[current + 1 :]) or "nothing"
        raise problems.conflict(f"A location moves forward through the pipeline: from {row.status} only to {allowed}.")
    day = body.date or today()
    params = []
    if day > today():
        params.append(InvalidParam("date", "must not be in the future", "range", "body"))
    previous = _status_date(row)
    if previous is not None and day < previous:
        params.append(InvalidParam("date", f"must not be before the current status's date {previous}", "range", "body"))
    if params:
        raise problems.invalid(*params)
    row.status = body.status
    setattr(row, DATE_COLUMN[body.status], day)
    row.updated_at = datetime.now(UTC)
    row.version += 1
    await session.flush()
    return row


async def report_occupancy(
    session: AsyncSession, principal: Principal, row: HousingLocation, body: OccupancyReportCreate
) -> OccupancyReport:
    params = []
    if body.occupied_beds > row.beds:
        params.append(
            InvalidParam("occupiedBeds", f"exceeds the location's capacity of {row.beds} beds", "capacity", "body")
        )
    if body.date > today():
        params.append(InvalidParam("date", "must not be in the future", "range", "body"))
    elif body.date < EARLIEST_OCCUPANCY_DATE:
        params.append(InvalidParam("date", f"must not be before {EARLIEST_OCCUPANCY_DATE}", "range", "body"))
    if params:
        raise problems.invalid(*params)
    if row.status != "operational":
        raise problems.conflict(f"Only an operational location reports occupancy; this one is {row.status}.")
    if await repository.occupancy_on(session, row.id, body.date) is not None:
        raise problems.conflict(f"Occupancy on {body.date} was reported already.")
    report = OccupancyReport(
        housing_location_id=row.id,
        reported_on=body.date,
        occupied_beds=body.occupied_beds,
        reported_by_oin=principal.organisation_oin,
        created_at=datetime.now(UTC),
    )
    session.add(report)
    await session.flush()
    return report


def risk_read(standing: CertificateStanding) -> Risk:
    return Risk(
        kvk_number=standing.kvk_number,
        scheme=standing.scheme,
        reason=standing.status,  # a risk status, by the query
        since=standing.effective_date,
        certificate_id=standing.certificate_id,
        event_id=standing.event_id,
        event_time=standing.event_time,
    )


def location_read(
    row: HousingLocation, occupancy: OccupancyReport | None, risks: Sequence[CertificateStanding]
) -> HousingLocationRead:
    at_risk = bool(risks) and row.status != "closed"
    return HousingLocationRead(
        id=row.id,
        municipality_code=row.municipality_code,
        name=row.name,
        address=Address(postcode=row.postcode, house_number=row.house_number),
        kind=row.kind,
        form=row.form,
        beds=row.beds,
        landlord_kvk_number=row.landlord_kvk_number,
        status=row.status,
        status_dates=StatusDates(
            planned=row.planned_on,
            permit_granted=row.permit_granted_on,
            under_construction=row.construction_started_on,
            operational=row.operational_since,
            closed=row.closed_on,
        ),
        expected_opening_date=row.expected_opening_on,
        latest_occupancy=Occupancy(date=occupancy.reported_on, occupied_beds=occupancy.occupied_beds)
        if occupancy
        else None,
        at_risk=at_risk,
        risks=[risk_read(r) for r in risks] if at_risk else [],
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


# Economic locations.


async def _check_keys(
    session: AsyncSession, region_code: str, keys: Sequence[DistributionKeyItem]
) -> list[InvalidParam]:
    params = []
    members = set(await repository.member_codes(session, region_code))
    seen: set[str] = set()
    for n, key in enumerate(keys):
        if key.municipality_code in seen:
            params.append(InvalidParam(f"keys.{n}.municipalityCode", "appears twice", "duplicate", "body"))
        seen.add(key.municipality_code)
        if members and key.municipality_code not in members:
            params.append(
                InvalidParam(f"keys.{n}.municipalityCode", f"is not a member of region {region_code}", "member", "body")
            )
    total = sum(k.share for k in keys)
    if abs(total - 1.0) > KEY_SUM_TOLERANCE:
        params.append(InvalidParam("keys", f"the shares must sum to 1; they sum to {total:.6f}", "sum", "body"))
    return params


async def create_economic_location(
    session: AsyncSession, principal: Principal, body: EconomicLocationCreate
) -> EconomicLocation:
    region = await repository.region(session, body.region_code)
    params = []
    if region is None:
        params.append(InvalidParam("regionCode", "no such region", "unknown", "body"))
    else:
        if not await repository.is_member(session, region.code, body.host_municipality_code):
            params.append(
                InvalidParam("hostMunicipalityCode", f"is not a member of region {region.code}", "member", "body")
            )
        params += await _check_keys(session, region.code, body.keys)
    if params:
        raise problems.invalid(*params)
    if _own_municipality(principal) != body.host_municipality_code:
        raise problems.forbidden("The host municipality records an economic location and its keys.")
    if await repository.economic_location(session, body.id) is not None:
        raise problems.conflict(f"An economic location {body.id} exists already.")
    now = datetime.now(UTC)
    row = EconomicLocation(
        id=body.id,
        name=body.name,
        region_code=body.region_code,
        host_municipality_code=body.host_municipality_code,
        created_by_oin=principal.organisation_oin,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(row)
    await session.flush()
    await repository.replace_keys(session, row.id, [(k.municipality_code, k.share) for k in body.keys])
    return row


async def replace_keys(
    session: AsyncSession, principal: Principal, row: EconomicLocation, keys: Sequence[DistributionKeyItem]
) -> EconomicLocation:
    if _own_municipality(principal) != row.host_municipality_code:
        raise problems.forbidden("The host municipality records an economic location and its keys.")
    params = await _check_keys(session, row.region_code, keys)
    if params:
        raise problems.invalid(*params)
    await repository.replace_keys(session, row.id, [(k.municipality_code, k.share) for k in keys])
    row.updated_at = datetime.now(UTC)
    row.version += 1
    await session.flush()
    return row


def economic_location_read(row: EconomicLocation, keys: dict[str, float]) -> EconomicLocationRead:
    return EconomicLocationRead(
        id=row.id,
        name=row.name,
        region_code=row.region_code,
        host_municipality_code=row.host_municipality_code,
        keys=[DistributionKeyRead(municipality_code=c, share=s) for c, s in sorted(keys.items())],
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
