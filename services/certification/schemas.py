"""Request and response bodies of the certification API (lowerCamelCase on the wire)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from lmx_common.pagination import PageLinks
from lmx_common.reference import is_municipality

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

KvkNumber = Annotated[str, Field(pattern=r"^\d{8}$", examples=["81234567"], description="KvK number, 8 digits.")]
HousingLocationId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


def _not_in_future(value: date) -> date:
    if value > datetime.now(UTC).date():
        raise ValueError("must not be in the future")
    return value


def _known_municipality(code: str) -> str:
    if not is_municipality(code):
        raise ValueError("not a municipality code of the current CBS list")
    return code


PastDate = Annotated[date, AfterValidator(_not_in_future)]
MunicipalityCode = Annotated[str, Field(pattern=r"^GM\d{4}$", examples=["GM1655"]), AfterValidator(_known_municipality)]

_API = ConfigDict(populate_by_name=True, extra="forbid")
_OUT = ConfigDict(populate_by_name=True, from_attributes=True)


class SchemeRead(BaseModel):
    """A certification scheme."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    code: str = Field(examples=["wtta-admission"])
    name: str
    owner: str
    subject_kind: str = Field(alias="subjectKind", examples=["employment-agency"])
    permits: str


class SchemeList(BaseModel):
    items: list[SchemeRead]


class OrganisationCreate(BaseModel):
    model_config = _API

    kvk_number: KvkNumber = Field(alias="kvkNumber")
    name: str = Field(min_length=1, max_length=200, examples=["Flex Uitzend West-Brabant B.V."])
    kinds: list[OrganisationKind] = Field(min_length=1, max_length=3)


class OrganisationRead(BaseModel):
    model_config = _OUT

    kvk_number: str = Field(alias="kvkNumber")
    name: str
    kinds: list[str]
    created_at: datetime = Field(alias="createdAt")


class OrganisationList(BaseModel):
    model_config = _OUT

    items: list[OrganisationRead]
    links: PageLinks = Field(alias="_links")


class CertificateCreate(BaseModel):
    """A new certificate starts as ``applied``; its history starts with that entry."""

    model_config = _API

    kvk_number: KvkNumber = Field(alias="kvkNumber")
    scheme: SchemeCode
    certificate_number: str | None = Field(default=None, alias="certificateNumber", max_length=50)
    valid_from: date = Field(alias="validFrom")
    valid_until: date | None = Field(default=None, alias="validUntil", description="Last day of validity.")
    housing_location_ids: list[HousingLocationId] = Field(
        default_factory=list, alias="housingLocationIds", max_length=500, description="snf-housing only."
    )
    applied_on: PastDate | None = Field(default=None, alias="appliedOn", description="Today when absent.")
    reason: str = Field(default="Application received.", min_length=1, max_length=1000)


class CertificateRead(BaseModel):
    model_config = _OUT

    id: str
    kvk_number: str = Field(alias="kvkNumber")
    scheme: str = Field(validation_alias="scheme_code", serialization_alias="scheme")
    certificate_number: str | None = Field(alias="certificateNumber")
    housing_location_ids: list[str] = Field(alias="housingLocationIds")
    valid_from: date = Field(alias="validFrom")
    valid_until: date | None = Field(alias="validUntil")
    status: str
    status_since: date = Field(alias="statusSince")
    created_at: datetime = Field(alias="createdAt")
    updated_at: datetime = Field(alias="updatedAt")


class CertificateList(BaseModel):
    model_config = _OUT

    items: list[CertificateRead]
    links: PageLinks = Field(alias="_links")


class StatusChangeCreate(BaseModel):
    model_config = _API

    status: CertificateStatus
    reason: str = Field(min_length=1, max_length=1000, examples=["Audit found repeated underpayment."])
    effective_date: PastDate | None = Field(
        default=None, alias="effectiveDate", description="Today when absent; not in the future."
    )


class Actor(BaseModel):
    """Who acted: the client and its organisation (``system`` for the scheduled expiry)."""

    model_config = _OUT

    client_id: str = Field(alias="clientId")
    organisation_oin: str | None = Field(alias="organisationOin")
    organisation_type: str = Field(alias="organisationType")


class StatusChangeRead(BaseModel):
    model_config = _OUT

    from_status: str | None = Field(alias="fromStatus")
    status: str
    reason: str
    effective_date: date = Field(alias="effectiveDate")
    recorded_at: datetime = Field(alias="recordedAt")
    changed_by: Actor = Field(alias="changedBy")


class StatusChangeList(BaseModel):
    items: list[StatusChangeRead]


class SchemeStatus(BaseModel):
    model_config = _OUT

    scheme: str
    certificate_id: str | None = Field(alias="certificateId")
    status: str | None = Field(description="Null when the organisation has no certificate under this scheme.")
    since: date | None
    until: date | None = Field(description="Last day of validity, if limited.")
    valid_today: bool = Field(alias="validToday")


class OrganisationStatus(BaseModel):
    """May this party supply labour / housing today, on what basis, since and until when."""

    model_config = _OUT

    kvk_number: str = Field(alias="kvkNumber")
    name: str
    date: date
    may_supply_labour: bool = Field(alias="maySupplyLabour", description="Holds a valid WTTA admission today.")
    may_supply_housing: bool = Field(alias="maySupplyHousing", description="Holds a valid SNF certificate today.")
    schemes: list[SchemeStatus]


class ReportCreate(BaseModel):
    """About an organisation and/or a housing location; at least one of the two."""

    model_config = _API

    kvk_number: KvkNumber | None = Field(default=None, alias="kvkNumber")
    housing_location_id: HousingLocationId | None = Field(default=None, alias="housingLocationId")
    municipality_code: MunicipalityCode = Field(alias="municipalityCode", description="Where the abuse happens.")
    category: ReportCategory
    description: str = Field(min_length=1, max_length=5000)
    observed_on: PastDate = Field(alias="observedOn")


class ReportNoteCreate(BaseModel):
    """A dated follow-up note, optionally moving the report to the next status."""

    model_config = _API

    note: str = Field(min_length=1, max_length=5000)
    date: PastDate | None = Field(default=None, description="Today when absent.")
    status: ReportStatus | None = None


class ReportNoteRead(BaseModel):
    model_config = _OUT

    from_status: str | None = Field(alias="fromStatus")
    status: str | None = Field(description="The status this note moved the report to, if any.")
    note: str
    date: date
    recorded_at: datetime = Field(alias="recordedAt")
    by: Actor


class ReportRead(BaseModel):
    model_config = _OUT

    id: str
    kvk_number: str | None = Field(alias="kvkNumber")
    housing_location_id: str | None = Field(alias="housingLocationId")
    municipality_code: str = Field(alias="municipalityCode")
    category: str
    description: str
    observed_on: date = Field(alias="observedOn")
    status: str
    reporter: Actor
    created_at: datetime = Field(alias="createdAt")
    updated_at: datetime = Field(alias="updatedAt")
    notes: list[ReportNoteRead]


class ReportListItem(BaseModel):
    model_config = _OUT

    id: str
    kvk_number: str | None = Field(alias="kvkNumber")
    housing_location_id: str | None = Field(alias="housingLocationId")
    municipality_code: str = Field(alias="municipalityCode")
    category: str
    observed_on: date = Field(alias="observedOn")
    status: str
    updated_at: datetime = Field(alias="updatedAt")


class ReportList(BaseModel):
    model_config = _OUT

    items: list[ReportListItem]
    links: PageLinks = Field(alias="_links")


class CategoryCount(BaseModel):
    model_config = _OUT

    category: str
    count: int


class StatusCount(BaseModel):
    model_config = _OUT

    status: str
    count: int


class ReportSummary(BaseModel):
    """Counts only: what everyone with access may know about reports on an organisation."""

    model_config = _OUT

    kvk_number: str = Field(alias="kvkNumber")
    total: int
    open: int = Field(description="Received or investigating.")
    by_category: list[CategoryCount] = Field(alias="byCategory")
    by_status: list[StatusCount] = Field(alias="byStatus")
