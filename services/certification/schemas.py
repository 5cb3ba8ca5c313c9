"""Request and response bodies of the certification API (lowerCamelCase on the wire)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field

from lmx_common.disclosure import DisclosureControl
from lmx_common.pagination import Page
from lmx_common.schemas import CamelInput, CamelModel
from lmx_common.validation import KvkNumber, MunicipalityCode

OrganisationKind = Literal["employment-agency", "employer", "landlord"]
SchemeCode = Literal["wtta-admission", "sna-nen-4400", "snf-housing"]
CertificateStatus = Literal["applied", "provisional", "granted", "suspended", "revoked", "refused", "expired", "ended"]
ReportCategory = Literal[
    "housing-conditions",
    "overcrowding",
    "underpayment",
    "excessive-hours",
    "unsafe-work",
    "deposit-or-fee-abuse",
    "coercion",
    "other",
]
ReportStatus = Literal["received", "investigating", "referred", "resolved", "unfounded"]

HousingLocationId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


def _not_in_future(value: date) -> date:
    if value > datetime.now(UTC).date():
        raise ValueError("must not be in the future")
    return value


PastDate = Annotated[date, AfterValidator(_not_in_future)]


class SchemeRead(CamelModel):
    """A certification scheme."""

    code: str = Field(examples=["wtta-admission"])
    name: str
    owner: str
    subject_kind: str = Field(examples=["employment-agency"])
    permits: str


class SchemeList(CamelModel):
    items: list[SchemeRead]


class OrganisationCreate(CamelInput):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kvkNumber": "81234567",
                    "name": "Flex Uitzend West-Brabant B.V.",
                    "kinds": ["employment-agency", "landlord"],
                }
            ]
        }
    )

    kvk_number: KvkNumber
    name: str = Field(min_length=1, max_length=200, examples=["Flex Uitzend West-Brabant B.V."])
    kinds: list[OrganisationKind] = Field(min_length=1, max_length=3)


class OrganisationRead(CamelModel):
    kvk_number: str
    name: str
    kinds: list[str]
    created_at: datetime


class OrganisationList(Page[OrganisationRead]):
    """A page of OrganisationRead; follow `_links.next.href` until it is absent."""


class CertificateCreate(CamelInput):
    """A new certificate starts as ``applied``; its history starts with that entry."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kvkNumber": "81234567",
                    "scheme": "snf-housing",
                    "certificateNumber": "SNF-2026-0042",
                    "validFrom": "2026-01-01",
                    "validUntil": "2027-12-31",
                    "housingLocationIds": ["wb-gm1655-01"],
                }
            ]
        }
    )

    kvk_number: KvkNumber
    scheme: SchemeCode
    certificate_number: str | None = Field(default=None, max_length=50)
    valid_from: date
    valid_until: date | None = Field(default=None, description="Last day of validity.")
    housing_location_ids: list[HousingLocationId] = Field(
        default_factory=list, alias="housingLocationIds", max_length=500, description="snf-housing only."
    )
    applied_on: PastDate | None = Field(default=None, description="Today when absent.")
    reason: str = Field(default="Application received.", min_length=1, max_length=1000)


class CertificateRead(CamelModel):
    id: str
    kvk_number: str
    scheme: str = Field(validation_alias="scheme_code", serialization_alias="scheme")
    certificate_number: str | None
    housing_location_ids: list[str]
    valid_from: date
    valid_until: date | None
    status: str
    status_since: date
    created_at: datetime
    updated_at: datetime


class CertificateList(Page[CertificateRead]):
    """A page of CertificateRead; follow `_links.next.href` until it is absent."""


class StatusChangeCreate(CamelInput):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status": "suspended", "reason": "Audit found repeated underpayment.", "effectiveDate": "2026-02-01"}
            ]
        }
    )

    status: CertificateStatus
    reason: str = Field(min_length=1, max_length=1000, examples=["Audit found repeated underpayment."])
    effective_date: PastDate | None = Field(
        default=None, alias="effectiveDate", description="Today when absent; not in the future."
    )


class Actor(CamelModel):
    """Who acted: the client and its organisation (``system`` for the scheduled expiry)."""

    client_id: str
    organisation_oin: str | None
    organisation_type: str


class StatusChangeRead(CamelModel):
    from_status: str | None
    status: str
    reason: str
    effective_date: date
    recorded_at: datetime
    changed_by: Actor


class StatusChangeList(CamelModel):
    items: list[StatusChangeRead]


class SchemeStatus(CamelModel):
    scheme: str
    certificate_id: str | None
    status: str | None = Field(description="Null when the organisation has no certificate under this scheme.")
    since: date | None
    until: date | None = Field(description="Last day of validity, if limited.")
    valid_today: bool


class OrganisationStatus(CamelModel):
    """May this party supply labour / housing today, on what basis, since and until when."""

    kvk_number: str
    name: str
    date: date
    may_supply_labour: bool = Field(description="Holds a valid WTTA admission today.")
    may_supply_housing: bool = Field(description="Holds a valid SNF certificate today.")
    schemes: list[SchemeStatus]


class ReportCreate(CamelInput):
    """About an organisation and/or a housing location; at least one of the two."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kvkNumber": "81234567",
                    "housingLocationId": "wb-gm1655-01",
                    "municipalityCode": "GM1655",
                    "category": "overcrowding",
                    "description": "Eight people share a room meant for four.",
                    "observedOn": "2026-02-10",
                }
            ]
        }
    )

    kvk_number: KvkNumber | None = Field(default=None)
    housing_location_id: HousingLocationId | None = Field(default=None)
    municipality_code: MunicipalityCode = Field(description="Where the abuse happens.")
    category: ReportCategory
    description: str = Field(min_length=1, max_length=5000)
    observed_on: PastDate


class ReportNoteCreate(CamelInput):
    """A dated follow-up note, optionally moving the report to the next status."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"note": "Inspection planned with the municipality.", "date": "2026-02-12", "status": "investigating"}
            ]
        }
    )

    note: str = Field(min_length=1, max_length=5000)
    date: PastDate | None = Field(default=None, description="Today when absent.")
    status: ReportStatus | None = None


class ReportNoteRead(CamelModel):
    from_status: str | None
    status: str | None = Field(description="The status this note moved the report to, if any.")
    note: str
    date: date
    recorded_at: datetime
    by: Actor


class ReportRead(CamelModel):
    id: str
    kvk_number: str | None
    housing_location_id: str | None
    municipality_code: str
    category: str
    description: str
    observed_on: date
    status: str
    reporter: Actor
    created_at: datetime
    updated_at: datetime
    notes: list[ReportNoteRead]


class ReportListItem(CamelModel):
    id: str
    kvk_number: str | None
    housing_location_id: str | None
    municipality_code: str
    category: str
    observed_on: date
    status: str
    updated_at: datetime


class ReportList(Page[ReportListItem]):
    """A page of ReportListItem; follow `_links.next.href` until it is absent."""


class DisclosedCount(CamelModel):
    """A published count (lmx_common.disclosure.DisclosedCount without the cell key, which this service never
    gives out): exact for the party it concerns, perturbed by the cell-key method for others."""

    count: int = Field(ge=0, description="The count as published to this caller.")
    exact: bool = Field(description="true: the true count; false: perturbed by the cell-key method (docs/privacy.md).")


class CategoryCount(CamelModel):
    category: str
    count: int = Field(ge=0, description="Reports in this category, as published to this caller.")
    exact: bool = Field(description="false: perturbed by the cell-key method (docs/privacy.md).")


class StatusCount(CamelModel):
    status: str
    count: int = Field(ge=0, description="Reports in this status, as published to this caller.")
    exact: bool = Field(description="false: perturbed by the cell-key method (docs/privacy.md).")


class ReportSummary(CamelModel):
    """Counts only: what everyone with access may know about reports on an organisation.

    Exact for the inspectorate and certifiers (who may read every report themselves); for every other
    caller each count is perturbed by the cell-key method (docs/privacy.md): never 1..threshold-1, the
    same answer every time, and no count follows exactly from the others. Every category and status is
    listed, zero ones (always published as 0) included."""

    kvk_number: str
    total: DisclosedCount
    open: DisclosedCount = Field(description="Received or investigating.")
    by_category: list[CategoryCount]
    by_status: list[StatusCount]
    disclosure_control: DisclosureControl
