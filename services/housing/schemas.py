"""Request and response bodies of the housing API (lowerCamelCase on the wire; unknown fields refused)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StrictFloat, StrictInt

from lmx_common.disclosure import DisclosureControl
from lmx_common.pagination import Page
from lmx_common.schemas import CamelInput, CamelModel, examples
from lmx_common.validation import LOCATION_ID_PATTERN, KvkNumber, MunicipalityCode, Postcode, RegionCode

Kind = Literal["short-stay", "mid-stay", "long-stay"]
Form = Literal["clustered", "dispersed"]
PipelineStatus = Literal["planned", "permit-granted", "under-construction", "operational", "closed"]
FairShareStatus = Literal["lagging", "on-track"]
Day = date  # for fields named `date`, which would shadow the type in the class body


LocationId = Annotated[
    str,
    Field(
        pattern=LOCATION_ID_PATTERN,
        examples=["wb-gm1655-01"],
        description="The id registrations name (residence.housingLocationId or work.economicLocationId).",
    ),
]
HouseNumber = Annotated[str, Field(pattern=r"^[1-9][0-9]{0,4}([ -]?[A-Za-z0-9]{1,4})?$", examples=["12"])]


# Examples of the answers (OpenAPI; tests/unit/test_openapi_examples.py validates each against its schema).
REGION_EXAMPLE: dict[str, Any] = {
    "code": "west-brabant",
    "name": "Regio West-Brabant",
    "kind": "region",
    "municipalityCodes": [
        "GM0744",
        "GM0748",
        "GM0758",
        "GM0777",
        "GM0779",
        "GM0826",
        "GM0840",
        "GM0851",
        "GM0873",
        "GM0879",
        "GM1655",
        "GM1674",
        "GM1709",
        "GM1719",
        "GM1723",
        "GM1959",
    ],
    "laggingFactor": 0.8,
}
STATUS_DATES_EXAMPLE: dict[str, Any] = {
    "planned": "2022-11-01",
    "permitGranted": "2023-02-15",
    "underConstruction": None,
    "operational": "2023-09-01",
    "closed": None,
}
OCCUPANCY_EXAMPLE: dict[str, Any] = {"date": "2026-02-01", "occupiedBeds": 131}
RISK_EXAMPLE: dict[str, Any] = {
    "kvkNumber": "71230102",
    "scheme": "snf-housing",
    "reason": "suspended",
    "since": "2026-02-01",
    "certificateId": "5d1c7a52-3e8b-4a8f-9d3c-2f6b1e0a9c47",
    "eventId": "0b9f6a0e-5a55-4bd1-9f38-3cbb1e3a4a43",
    "eventTime": "2026-02-01T10:02:11.204000+00:00",
}
OCCUPANCY_REPORT_EXAMPLE: dict[str, Any] = {
    "id": 4821,
    "housingLocationId": "wb-gm0758-01",
    "date": "2026-02-01",
    "occupiedBeds": 131,
    "beds": 140,
    "createdAt": "2026-02-02T08:12:45.300000+00:00",
}
ECONOMIC_LOCATION_EXAMPLE: dict[str, Any] = {
    "id": "wb-moerdijk-port",
    "name": "Haven Moerdijk",
    "regionCode": "west-brabant",
    "hostMunicipalityCode": "GM1709",
    "keys": [{"municipalityCode": "GM1709", "share": 0.6}, {"municipalityCode": "GM1655", "share": 0.4}],
    "createdAt": "2025-12-01T10:00:00+00:00",
    "updatedAt": "2026-01-15T13:20:31.845000+00:00",
}


class DisclosedCount(CamelModel):
    """A published count (lmx_common.disclosure.DisclosedCount without the cell key, which this service never
    gives out): exact for the party it concerns, perturbed by the cell-key method for others."""

    count: int = Field(ge=0, description="The count as published to this caller.")
    exact: bool = Field(description="true: the true count; false: perturbed by the cell-key method (docs/privacy.md).")


# Regions.


class RegionRead(CamelModel):
    """A region: a named set of municipalities."""

    model_config = ConfigDict(json_schema_extra=examples(REGION_EXAMPLE))

    code: str = Field(examples=["west-brabant"])
    name: str = Field(examples=["Regio West-Brabant"])
    kind: str = Field(examples=["region"])
    municipality_codes: list[str]
    lagging_factor: float = Field(
        description="A member lags when its fulfilment is below this factor times the region's fulfilment.",
        examples=[0.8],
    )


class RegionList(CamelModel):
    model_config = ConfigDict(json_schema_extra=examples({"items": [REGION_EXAMPLE]}))

    items: list[RegionRead]


# Housing locations.


class Address(CamelInput):
    postcode: Postcode
    house_number: HouseNumber


class HousingLocationCreate(CamelInput):
    """A new location; its municipality is the caller's own."""

    id: LocationId | None = Field(default=None, description="Chosen by the municipality; generated when absent.")
    municipality_code: MunicipalityCode | None = Field(default=None, description="The caller's own when absent.")
    name: Annotated[str, Field(min_length=1, max_length=200, examples=["Logeerhuis Havenweg"])] | None = None
    address: Address
    kind: Kind = Field(examples=["mid-stay"])
    form: Form = Field(examples=["clustered"])
    beds: Annotated[StrictInt, Field(ge=1, le=100_000, examples=[120])]
    landlord_kvk_number: KvkNumber
    status: Literal["planned", "permit-granted", "under-construction", "operational"] = Field(
        default="planned", examples=["planned"]
    )
    status_date: date | None = Field(default=None, description="When the location reached its status; today if absent.")
    expected_opening_date: date | None = None


class HousingLocationUpdate(CamelInput):
    """A JSON merge patch of a location's facts (the pipeline status moves by status changes)."""

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    address: Address | None = None
    kind: Kind | None = None
    form: Form | None = None
    beds: Annotated[StrictInt, Field(ge=1, le=100_000)] | None = None
    landlord_kvk_number: KvkNumber | None = None
    expected_opening_date: date | None = None


class StatusChangeCreate(CamelInput):
    model_config = ConfigDict(json_schema_extra=examples({"status": "permit-granted", "date": "2026-02-01"}))

    status: PipelineStatus
    date: Day | None = Field(default=None, description="When it happened; today if absent. Not in the future.")


class StatusDates(CamelModel):
    """The date the location reached each step of the pipeline (null: not reached, or not recorded)."""

    model_config = ConfigDict(json_schema_extra=examples(STATUS_DATES_EXAMPLE))

    planned: date | None
    permit_granted: date | None
    under_construction: date | None
    operational: date | None
    closed: date | None


class Occupancy(CamelModel):
    model_config = ConfigDict(json_schema_extra=examples(OCCUPANCY_EXAMPLE))

    date: Day
    occupied_beds: int


class Risk(CamelModel):
    """Why a location is at risk: its landlord's certificate in a scheme is suspended, revoked or expired."""

    model_config = ConfigDict(json_schema_extra=examples(RISK_EXAMPLE))

    kvk_number: str
    scheme: str
    reason: Literal["suspended", "revoked", "expired"]
    since: date | None
    certificate_id: str
    event_id: str
    event_time: datetime


class HousingLocationRead(CamelModel):
    """A housing location. Its example is given per field: a whole one would hold the address's key
    `postcode`, which the NL GOV linter takes for the method `post` (nlgov:problem-invalid-input)."""

    id: str = Field(examples=["wb-gm0758-01"])
    municipality_code: str = Field(examples=["GM0758"])
    name: str | None = Field(examples=["Haagse Beemden"])
    address: Address
    kind: str = Field(examples=["mid-stay"])
    form: str = Field(examples=["clustered"])
    beds: int = Field(examples=[140])
    landlord_kvk_number: str = Field(examples=["71230102"])
    status: str = Field(examples=["operational"])
    status_dates: StatusDates
    expected_opening_date: date | None = Field(examples=[None])
    latest_occupancy: Occupancy | None
    at_risk: bool = Field(examples=[True])
    risks: list[Risk]
    created_at: datetime = Field(examples=["2022-11-01T09:30:12.118000+00:00"])
    updated_at: datetime = Field(examples=["2026-02-02T08:12:45.300000+00:00"])


class HousingLocationPage(Page[HousingLocationRead]):
    """A page of housing locations."""


class OccupancyReportCreate(CamelInput):
    model_config = ConfigDict(json_schema_extra=examples({"date": "2026-02-01", "occupiedBeds": 96}))

    date: Day
    occupied_beds: Annotated[StrictInt, Field(ge=0)]


class OccupancyReportRead(CamelModel):
    model_config = ConfigDict(json_schema_extra=examples(OCCUPANCY_REPORT_EXAMPLE))

    id: int
    housing_location_id: str
    date: Day
    occupied_beds: int
    beds: int
    created_at: datetime


class OccupancyReportList(CamelModel):
    model_config = ConfigDict(json_schema_extra=examples({"items": [OCCUPANCY_REPORT_EXAMPLE]}))

    items: list[OccupancyReportRead]


# Regional economic locations.


class DistributionKeyItem(CamelInput):
    municipality_code: MunicipalityCode
    share: Annotated[StrictFloat, Field(ge=0, le=1, examples=[0.25])]


class EconomicLocationCreate(CamelInput):
    model_config = ConfigDict(
        json_schema_extra=examples(
            {
                "id": "wb-moerdijk-port",
                "name": "Haven Moerdijk",
                "regionCode": "west-brabant",
                "hostMunicipalityCode": "GM1709",
                "keys": [
                    {"municipalityCode": "GM1709", "share": 0.6},
                    {"municipalityCode": "GM1655", "share": 0.4},
                ],
            }
        )
    )

    id: LocationId
    name: Annotated[str, Field(min_length=1, max_length=200)]
    region_code: RegionCode
    host_municipality_code: MunicipalityCode
    keys: Annotated[list[DistributionKeyItem], Field(min_length=1, max_length=500)]


class DistributionKeysReplace(CamelInput):
    model_config = ConfigDict(
        json_schema_extra=examples(
            {"keys": [{"municipalityCode": "GM1709", "share": 0.5}, {"municipalityCode": "GM1655", "share": 0.5}]}
        )
    )

    keys: Annotated[list[DistributionKeyItem], Field(min_length=1, max_length=500)]


class DistributionKeyRead(CamelModel):
    municipality_code: str
    share: float


class EconomicLocationRead(CamelModel):
    model_config = ConfigDict(json_schema_extra=examples(ECONOMIC_LOCATION_EXAMPLE))

    id: str
    name: str
    region_code: str
    host_municipality_code: str
    keys: list[DistributionKeyRead]
    created_at: datetime
    updated_at: datetime


class EconomicLocationList(CamelModel):
    model_config = ConfigDict(json_schema_extra=examples({"items": [ECONOMIC_LOCATION_EXAMPLE]}))

    items: list[EconomicLocationRead]


# Fair share.


class PipelineBeds(CamelModel):
    planned: int
    permit_granted: int
    under_construction: int


class FairShareItem(CamelModel):
    """One member's fair share. Figures from registry counts are published through the cell-key method
    (docs/privacy.md): exact for the municipality itself where they are its own count, perturbed for others."""

    municipality_code: str
    municipality_name: str
    working_migrants: DisclosedCount = Field(
        description="Active migrants working here outside the region's economic locations: exact for this "
        "municipality itself, perturbed for other callers."
    )
    regional_share: float = Field(
        description="Sum over the economic locations of this member's key x the published pool of the location."
    )
    obligation: float = Field(
        description="workingMigrants + regionalShare (published): beds this municipality provides."
    )
    operational_beds: int
    pipeline_beds: PipelineBeds
    gap: float = Field(description="obligation - operationalBeds.")
    fulfilment: float | None = Field(description="operationalBeds / obligation; null when the obligation is 0.")
    status: FairShareStatus = Field(
        description="Decided on the true (unperturbed) figures: lagging when the true fulfilment is below the "
        "true laggingBelow."
    )
    exact: bool = Field(
        description="true: regionalShare, obligation, gap and fulfilment are the true figures; false: they are "
        "derived from perturbed counts (workingMigrants.exact says whether that count is exact)."
    )


class FairSharePool(CamelModel):
    economic_location_id: str
    working: DisclosedCount = Field(
        description="The pool: active migrants working at this economic location in a member municipality; "
        "perturbed for every caller (it concerns several municipalities)."
    )


class FairShareTotals(CamelModel):
    obligation: float = Field(
        description="Everybody working in a member municipality, published as one count: not the sum of the "
        "rows' published obligations."
    )
    operational_beds: int
    pipeline_beds: PipelineBeds
    gap: float = Field(description="obligation - operationalBeds.")
    fulfilment: float | None = Field(description="operationalBeds / obligation; null when the obligation is 0.")
    exact: bool = Field(description="Whether obligation, gap and fulfilment are the true figures.")


FAIR_SHARE_EXAMPLE: dict[str, Any] = {
    "regionCode": "west-brabant",
    "regionName": "Regio West-Brabant",
    "regionKind": "region",
    "asOf": "2026-11-30T09:00:00Z",
    "stale": False,
    "laggingFactor": 0.8,
    "laggingBelow": 0.5114,
    "disclosureControl": {"method": "cell-key", "threshold": 5, "maximumDeviation": 2},
    "economicLocationIds": ["wb-moerdijk-logistics-park"],
    "pools": [{"economicLocationId": "wb-moerdijk-logistics-park", "working": {"count": 311, "exact": False}}],
    "totals": {
        "obligation": 2614.0,
        "operationalBeds": 1671,
        "pipelineBeds": {"planned": 120, "permitGranted": 60, "underConstruction": 80},
        "gap": 943.0,
        "fulfilment": 0.6393,
        "exact": False,
    },
    "items": [
        {
            "municipalityCode": "GM0758",
            "municipalityName": "Breda",
            "workingMigrants": {"count": 412, "exact": True},
            "regionalShare": 46.65,
            "obligation": 458.65,
            "operationalBeds": 310,
            "pipelineBeds": {"planned": 40, "permitGranted": 0, "underConstruction": 24},
            "gap": 148.65,
            "fulfilment": 0.6759,
            "status": "on-track",
            "exact": False,
        },
        {
            "municipalityCode": "GM1655",
            "municipalityName": "Halderberge",
            "workingMigrants": {"count": 96, "exact": False},
            "regionalShare": 15.55,
            "obligation": 111.55,
            "operationalBeds": 40,
            "pipelineBeds": {"planned": 0, "permitGranted": 0, "underConstruction": 0},
            "gap": 71.55,
            "fulfilment": 0.3586,
            "status": "lagging",
            "exact": False,
        },
    ],
}


class FairShareReport(CamelModel):
    """The fair share of each member municipality, from the registry's statistics as of ``asOf``."""

    model_config = ConfigDict(json_schema_extra=examples(FAIR_SHARE_EXAMPLE))

    region_code: str
    region_name: str
    region_kind: str
    as_of: datetime = Field(description="When the registry produced the counts.")
    stale: bool = Field(description="True when the registry could not be reached and these are its last figures.")
    lagging_factor: float
    lagging_below: float | None = Field(description="laggingFactor x the region's published fulfilment.")
    disclosure_control: DisclosureControl
    economic_location_ids: list[str]
    pools: list[FairSharePool]
    totals: FairShareTotals
    items: list[FairShareItem]


# At risk.


class AtRiskLocation(CamelModel):
    id: str
    municipality_code: str
    name: str | None
    status: str
    beds: int
    landlord_kvk_number: str
    residents_affected: DisclosedCount | None = Field(
        description="Active residents of the location: exact for its municipality, perturbed for others; null "
        "when the registry could not be reached and no count was kept."
    )
    risks: list[Risk]


class AtRiskMunicipality(CamelModel):
    municipality_code: str
    locations: int
    beds: int
    residents_affected: DisclosedCount = Field(
        description="The residents of its at-risk locations, published as one count (exact for the municipality)."
    )


class AtRiskReport(CamelModel):
    """Locations whose landlord lost its certificate, with the residents affected (registry as of ``asOf``)."""

    model_config = ConfigDict(
        json_schema_extra=examples(
            {
                "municipalityCode": None,
                "regionCode": "west-brabant",
                "asOf": "2026-11-30T09:00:00Z",
                "stale": False,
                "disclosureControl": {"method": "cell-key", "threshold": 5, "maximumDeviation": 2},
                "locations": 1,
                "beds": 48,
                "residentsAffected": {"count": 37, "exact": False},
                "municipalities": [
                    {
                        "municipalityCode": "GM1655",
                        "locations": 1,
                        "beds": 48,
                        "residentsAffected": {"count": 37, "exact": False},
                    }
                ],
                "items": [
                    {
                        "id": "wb-gm1655-01",
                        "municipalityCode": "GM1655",
                        "name": "Logeerhuis Havenweg",
                        "status": "operational",
                        "beds": 48,
                        "landlordKvkNumber": "71230102",
                        "residentsAffected": {"count": 37, "exact": False},
                        "risks": [RISK_EXAMPLE],
                    }
                ],
            }
        )
    )

    municipality_code: str | None
    region_code: str | None
    as_of: datetime | None = Field(description="When the registry produced the resident counts.")
    stale: bool
    disclosure_control: DisclosureControl
    locations: int
    beds: int
    residents_affected: DisclosedCount = Field(
        description="The residents of all the listed locations, published as one count: exact only for a "
        "municipality that is the only one in the report."
    )
    municipalities: list[AtRiskMunicipality]
    items: list[AtRiskLocation]
