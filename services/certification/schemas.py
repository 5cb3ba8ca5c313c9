"""Request and response bodies of the certification API (lowerCamelCase on the wire)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field

from lmx_common.disclosure import DisclosureControl
from lmx_common.pagination import Page, page_example
from lmx_common.schemas import CamelInput, CamelModel, examples
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

# Examples of the answers (OpenAPI; tests/unit/test_openapi_examples.py validates each against its schema).
SCHEME_EXAMPLE: dict[str, Any] = {
    "code": "snf-housing",
    "name": "SNF certificate for housing of labour migrants",
    "owner": "SNF (Stichting Normering Flexwonen)",
    "subjectKind": "landlord",
    "permits": "Housing labour migrants at the certified locations.",
}
ORGANISATION_EXAMPLE: dict[str, Any] = {
    "kvkNumber": "81234567",
    "name": "Flex Uitzend West-Brabant B.V.",
    "kinds": ["employment-agency", "landlord"],
    "createdAt": "2026-01-12T08:41:27.309000+00:00",
}
CERTIFICATE_ID_EXAMPLE = "5d1c7a52-3e8b-4a8f-9d3c-2f6b1e0a9c47"
CERTIFICATE_EXAMPLE: dict[str, Any] = {
    "id": CERTIFICATE_ID_EXAMPLE,
    "kvkNumber": "81234567",
    "scheme": "snf-housing",
    "certificateNumber": "SNF-2026-0042",
    "housingLocationIds": ["wb-gm1655-01"],
    "validFrom": "2026-01-01",
    "validUntil": "2027-12-31",
    "status": "granted",
    "statusSince": "2026-01-20",
    "createdAt": "2026-01-12T09:02:51.774000+00:00",
    "updatedAt": "2026-01-20T14:18:05.020000+00:00",
}
ACTOR_EXAMPLE: dict[str, Any] = {
    "clientId": "snf-certifier",
    "organisationOin": "00000003273429180000",
    "organisationType": "certifier",
}
STATUS_CHANGE_EXAMPLE: dict[str, Any] = {
    "fromStatus": "provisional",
    "status": "granted",
    "reason": "Inspection of the location passed.",
    "effectiveDate": "2026-01-20",
    "recordedAt": "2026-01-20T14:18:05.020000+00:00",
    "changedBy": ACTOR_EXAMPLE,
}
REPORT_ID_EXAMPLE = "a3b9e2d1-7c4f-4e8a-b6d5-0f1e2c3b4a59"
INSPECTOR_EXAMPLE: dict[str, Any] = {
    "clientId": "gemeente-halderberge",
    "organisationOin": "00000001002306608000",
    "organisationType": "municipality",
}
REPORT_EXAMPLE: dict[str, Any] = {
    "id": REPORT_ID_EXAMPLE,
    "kvkNumber": "81234567",
    "housingLocationId": "wb-gm1655-01",
    "municipalityCode": "GM1655",
    "category": "overcrowding",
    "description": "Eight people share a room meant for four.",
    "observedOn": "2026-02-10",
    "status": "investigating",
    "reporter": INSPECTOR_EXAMPLE,
    "createdAt": "2026-02-10T16:22:40.901000+00:00",
    "updatedAt": "2026-02-12T09:05:13.442000+00:00",
    "notes": [
        {
            "fromStatus": "received",
            "status": "investigating",
            "note": "Inspection planned with the municipality.",
            "date": "2026-02-12",
            "recordedAt": "2026-02-12T09:05:13.442000+00:00",
            "by": INSPECTOR_EXAMPLE,
        }
    ],
}
REPORT_LIST_ITEM_EXAMPLE: dict[str, Any] = {
    key: REPORT_EXAMPLE[key]
    for key in (
        "id",
        "kvkNumber",
        "housingLocationId",
        "municipalityCode",
        "category",
        "observedOn",
        "status",
        "updatedAt",
    )
}


class SchemeRead(CamelModel):
    """A certification scheme."""

    model_config = ConfigDict(json_schema_extra=examples(SCHEME_EXAMPLE))

    code: str = Field(examples=["wtta-admission"])
    name: str
    owner: str
    subject_kind: str = Field(examples=["employment-agency"])
    permits: str


class SchemeList(CamelModel):
    model_config = ConfigDict(json_schema_extra=examples({"items": [SCHEME_EXAMPLE]}))

    items: list[SchemeRead]


class OrganisationCreate(CamelInput):
    model_config = ConfigDict(
        json_schema_extra=examples(
            {
                "kvkNumber": "81234567",
                "name": "Flex Uitzend West-Brabant B.V.",
                "kinds": ["employment-agency", "landlord"],
            }
        )
    )

    kvk_number: KvkNumber
    name: str = Field(min_length=1, max_length=200, examples=["Flex Uitzend West-Brabant B.V."])
    kinds: list[OrganisationKind] = Field(min_length=1, max_length=3)


class OrganisationRead(CamelModel):
    model_config = ConfigDict(json_schema_extra=examples(ORGANISATION_EXAMPLE))

    kvk_number: str
    name: str
    kinds: list[str]
    created_at: datetime


class OrganisationList(Page[OrganisationRead]):
    """A page of OrganisationRead; follow `_links.next.href` until it is absent."""

    model_config = ConfigDict(
        json_schema_extra=examples(page_example("/certification/v1/organisations", ORGANISATION_EXAMPLE))
    )


class CertificateCreate(CamelInput):
    """A new certificate starts as ``applied``; its history starts with that entry."""

    model_config = ConfigDict(
        json_schema_extra=examples(
            {
                "kvkNumber": "81234567",
                "scheme": "snf-housing",
                "certificateNumber": "SNF-2026-0042",
                "validFrom": "2026-01-01",
                "validUntil": "2027-12-31",
                "housingLocationIds": ["wb-gm1655-01"],
            }
        )
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
    model_config = ConfigDict(json_schema_extra=examples(CERTIFICATE_EXAMPLE))

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

    model_config = ConfigDict(
        json_schema_extra=examples(page_example("/certification/v1/certificates", CERTIFICATE_EXAMPLE))
    )


class StatusChangeCreate(CamelInput):
    model_config = ConfigDict(
        json_schema_extra=examples(
            {"status": "suspended", "reason": "Audit found repeated underpayment.", "effectiveDate": "2026-02-01"}
        )
    )

    status: CertificateStatus
    reason: str = Field(min_length=1, max_length=1000, examples=["Audit found repeated underpayment."])
    effective_date: PastDate | None = Field(
        default=None, alias="effectiveDate", description="Today when absent; not in the future."
    )


class Actor(CamelModel):
    """Who acted: the client and its organisation (``system`` for the scheduled expiry)."""

    model_config = ConfigDict(json_schema_extra=examples(ACTOR_EXAMPLE))

    client_id: str
    organisation_oin: str | None
    organisation_type: str


class StatusChangeRead(CamelModel):
    model_config = ConfigDict(json_schema_extra=examples(STATUS_CHANGE_EXAMPLE))

    from_status: str | None
    status: str
    reason: str
    effective_date: date
    recorded_at: datetime
    changed_by: Actor


class StatusChangeList(CamelModel):
    model_config = ConfigDict(
        json_schema_extra=examples(
            {
                "items": [
                    {
                        "fromStatus": None,
                        "status": "applied",
                        "reason": "Application received.",
                        "effectiveDate": "2026-01-12",
                        "recordedAt": "2026-01-12T09:02:51.774000+00:00",
                        "changedBy": ACTOR_EXAMPLE,
                    },
                    STATUS_CHANGE_EXAMPLE,
                ]
            }
        )
    )

    items: list[StatusChangeRead]


class SchemeStatus(CamelModel):
    model_config = ConfigDict(
        json_schema_extra=examples(
            {
                "scheme": "snf-housing",
                "certificateId": CERTIFICATE_ID_EXAMPLE,
                "status": "granted",
                "since": "2026-01-20",
                "until": "2027-12-31",
                "validToday": True,
            }
        )
    )

    scheme: str
    certificate_id: str | None
    status: str | None = Field(description="Null when the organisation has no certificate under this scheme.")
    since: date | None
    until: date | None = Field(description="Last day of validity, if limited.")
    valid_today: bool


class OrganisationStatus(CamelModel):
    """May this party supply labour / housing today, on what basis, since and until when."""

    model_config = ConfigDict(
        json_schema_extra=examples(
            {
                "kvkNumber": "81234567",
                "name": "Flex Uitzend West-Brabant B.V.",
                "date": "2026-03-01",
                "maySupplyLabour": True,
                "maySupplyHousing": True,
                "schemes": [
                    {
                        "scheme": "wtta-admission",
                        "certificateId": "e8f7d6c5-b4a3-4921-8f0e-1d2c3b4a5968",
                        "status": "granted",
                        "since": "2025-11-03",
                        "until": None,
                        "validToday": True,
                    },
                    {
                        "scheme": "sna-nen-4400",
                        "certificateId": None,
                        "status": None,
                        "since": None,
                        "until": None,
                        "validToday": False,
                    },
                    {
                        "scheme": "snf-housing",
                        "certificateId": CERTIFICATE_ID_EXAMPLE,
                        "status": "granted",
                        "since": "2026-01-20",
                        "until": "2027-12-31",
                        "validToday": True,
                    },
                ],
            }
        )
    )

    kvk_number: str
    name: str
    date: date
    may_supply_labour: bool = Field(description="Holds a valid WTTA admission today.")
    may_supply_housing: bool = Field(description="Holds a valid SNF certificate today.")
    schemes: list[SchemeStatus]


class ReportCreate(CamelInput):
    """About an organisation and/or a housing location; at least one of the two."""

    model_config = ConfigDict(
        json_schema_extra=examples(
            {
                "kvkNumber": "81234567",
                "housingLocationId": "wb-gm1655-01",
                "municipalityCode": "GM1655",
                "category": "overcrowding",
                "description": "Eight people share a room meant for four.",
                "observedOn": "2026-02-10",
            }
        )
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
        json_schema_extra=examples(
            {"note": "Inspection planned with the municipality.", "date": "2026-02-12", "status": "investigating"}
        )
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
    model_config = ConfigDict(json_schema_extra=examples(REPORT_EXAMPLE))

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
    model_config = ConfigDict(json_schema_extra=examples(REPORT_LIST_ITEM_EXAMPLE))

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

    model_config = ConfigDict(
        json_schema_extra=examples(page_example("/certification/v1/reports", REPORT_LIST_ITEM_EXAMPLE))
    )


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

    model_config = ConfigDict(
        json_schema_extra=examples(
            {
                "kvkNumber": "81234567",
                "total": {"count": 5, "exact": False},
                "open": {"count": 0, "exact": False},
                "byCategory": [
                    {"category": c, "count": n, "exact": False}
                    for c, n in (
                        ("coercion", 0),
                        ("deposit-or-fee-abuse", 0),
                        ("excessive-hours", 0),
                        ("housing-conditions", 0),
                        ("other", 0),
                        ("overcrowding", 5),
                        ("underpayment", 0),
                        ("unsafe-work", 0),
                    )
                ],
                "byStatus": [
                    {"status": s, "count": n, "exact": False}
                    for s, n in (
                        ("investigating", 0),
                        ("received", 0),
                        ("referred", 0),
                        ("resolved", 5),
                        ("unfounded", 0),
                    )
                ],
                "disclosureControl": {"method": "cell-key", "threshold": 5, "maximumDeviation": 2},
            }
        )
    )

    kvk_number: str
    total: DisclosedCount
    open: DisclosedCount = Field(description="Received or investigating.")
    by_category: list[CategoryCount]
    by_status: list[StatusCount]
    disclosure_control: DisclosureControl
