"""Request and response bodies (lowerCamelCase JSON). Unknown fields are refused, never ignored."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field

from lmx_common.pagination import Page
from lmx_common.schemas import CamelInput as Camel
from lmx_common.schemas import CamelModel
from lmx_common.validation import LOCATION_ID_PATTERN
from services.registry import validation
from services.registry.fields import HOUSE_NUMBER_PATTERN


class MunicipalityRead(CamelModel):
    """A municipality of the CBS list in force."""

    code: str = Field(examples=["GM1655"])
    name: str = Field(examples=["Halderberge"])
    province_code: str = Field(alias="provinceCode", examples=["PV30"])
    province_name: str = Field(alias="provinceName", examples=["Noord-Brabant"])


class MunicipalityPage(Page[MunicipalityRead]):
    """A page of municipalities."""


RegistrationType = Literal["rni", "brp-resident", "none"]
Channel = Literal["digital", "desk", "mobile-desk"]
DepartureReason = Literal[
    "contract-ended", "job-lost", "housing-lost", "returned-home", "moved-within-nl", "other", "unknown"
]
Bsn = Annotated[str, AfterValidator(validation.bsn), Field(examples=["111222333"])]
KvkNumber = Annotated[str, AfterValidator(validation.kvk_number), Field(examples=["12345678"])]
MunicipalityCode = Annotated[str, AfterValidator(validation.municipality_code), Field(examples=["GM1655"])]
Postcode = Annotated[str, AfterValidator(validation.postcode), Field(examples=["4731AB"])]
CountryCode = Annotated[str, AfterValidator(validation.country_code), Field(examples=["PL"])]
LocationId = Annotated[str, Field(pattern=LOCATION_ID_PATTERN)]


class Contact(Camel):
    # A plain syntax check: deliverability is not ours to judge, and full RFC/IDNA validation
    # (email-validator) cost a third of the bulk import's time.
    email: Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    phone: Annotated[str, Field(pattern=r"^\+?[0-9 ()-]{6,20}$")] | None = None


class Person(Camel):
    bsn: Bsn | None = None
    given_names: Annotated[str, Field(min_length=1, max_length=200)]
    surname: Annotated[str, Field(min_length=1, max_length=200)]
    date_of_birth: Annotated[date, AfterValidator(validation.date_of_birth)]
    nationality: CountryCode
    contact: Contact | None = None


class Residence(Camel):
    municipality_code: MunicipalityCode
    postcode: Postcode | None = None
    house_number: Annotated[str, Field(pattern=HOUSE_NUMBER_PATTERN)] | None = None
    housing_location_id: LocationId | None = None


class Work(Camel):
    municipality_code: MunicipalityCode
    employer_kvk_number: KvkNumber
    agency_kvk_number: KvkNumber | None = None
    economic_location_id: LocationId | None = None
    start_date: date | None = None


REGISTRATION_CREATE_EXAMPLE: dict[str, Any] = {
    "person": {
        "bsn": "111222333",
        "givenNames": "Anna Maria",
        "surname": "Kowalska",
        "dateOfBirth": "1994-05-17",
        "nationality": "PL",
        "contact": {"email": "anna.kowalska@example.com", "phone": "+48 601 234 567"},
    },
    "registrationType": "rni",
    "channel": "desk",
    "residence": {
        "municipalityCode": "GM1655",
        "houseNumber": "12",
        "housingLocationId": "wb-gm1655-01",
    },
    "work": {"municipalityCode": "GM1655", "employerKvkNumber": "12345678", "startDate": "2026-03-02"},
    "arrivalDate": "2026-03-01",
    "expectedEndDate": "2026-09-30",
}


class RegistrationCreate(Camel):
    """A new registration, by an information point or a municipality."""

    model_config = ConfigDict(json_schema_extra={"examples": [REGISTRATION_CREATE_EXAMPLE]})

    person: Person
    registration_type: RegistrationType
    channel: Channel
    residence: Residence
    work: Work
    arrival_date: Annotated[date, AfterValidator(validation.arrival_date)]
    expected_end_date: date | None = None


class Destination(Camel):
    type: Literal["municipality", "abroad", "unknown"]
    municipality_code: MunicipalityCode | None = None
    country_code: CountryCode | None = None


class DepartureCreate(Camel):
    """A departure: the registration becomes `departed`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "date": "2026-09-30",
                    "reason": "contract-ended",
                    "destination": {"type": "abroad", "countryCode": "PL"},
                }
            ]
        }
    )

    date: date
    reason: DepartureReason
    destination: Destination


class BsnSearch(Camel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"bsn": "111222333"}]})

    bsn: Bsn


class RegisteredBy(Camel):
    organisation_oin: str
    organisation_type: str
    client_id: str


class DepartureRead(Camel):
    date: date
    reason: str
    destination: Destination


class PersonRead(Camel):
    bsn: str | None
    given_names: str | None
    surname: str | None
    date_of_birth: date | None
    nationality: str | None
    contact: Contact | None


class ResidenceRead(Camel):
    municipality_code: str
    postcode: str | None
    house_number: str | None
    housing_location_id: str | None


class WorkRead(Camel):
    municipality_code: str
    employer_kvk_number: str
    agency_kvk_number: str | None
    economic_location_id: str | None
    start_date: date | None


class RegistrationRead(Camel):
    """A registration as its registrar and the municipalities concerned see it."""

    id: str
    status: Literal["active", "departed"]
    person: PersonRead
    registration_type: str
    channel: str
    residence: ResidenceRead
    work: WorkRead
    arrival_date: date
    expected_end_date: date | None
    departure: DepartureRead | None
    registered_by: RegisteredBy
    created_at: datetime
    updated_at: datetime
    anonymised: bool
    restricted: bool


class PersonSummary(Camel):
    given_names: str | None
    surname: str | None
    nationality: str | None


class ResidenceSummary(Camel):
    municipality_code: str
    housing_location_id: str | None


class RegistrationSummary(Camel):
    """A registration in a list or search answer (field set `summary`): no BSN, date of birth,
    contact or address. Ask `fields=full` (if your party type is entitled to it) or read the one
    registration for the full record."""

    id: str
    status: Literal["active", "departed"]
    person: PersonSummary
    registration_type: str
    channel: str
    residence: ResidenceSummary
    work: WorkRead
    arrival_date: date
    expected_end_date: date | None
    departure: DepartureRead | None
    registered_by: RegisteredBy
    created_at: datetime
    updated_at: datetime
    anonymised: bool
    restricted: bool


class RegistrationPage(Page[RegistrationSummary | RegistrationRead]):
    """A page of registrations the caller may see, in the field set asked for (summary by default)."""


FieldSet = Literal["summary", "full"]

ErasureGround = Literal[
    "no-longer-necessary", "consent-withdrawn", "objection", "unlawful-processing", "legal-obligation"
]
RestrictionGround = Literal["accuracy-contested", "unlawful-processing", "legal-claims", "objection-pending"]


class ErasureRequest(Camel):
    """Erase a registration's personal data now (GDPR art. 17); statistics are kept."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "no-longer-necessary"}]})

    reason: ErasureGround


class RestrictionRequest(Camel):
    """Restrict the processing of a registration (GDPR art. 18)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "accuracy-contested"}]})

    reason: RestrictionGround


class SubjectAccessRequest(Camel):
    """A data subject's request for access (GDPR art. 15): the person is found by BSN, in the body."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"bsn": "111222333"}]})

    bsn: Bsn


class PeriodRead(Camel):
    """A period in which the registration had these work and residence municipalities (validTo null:
    the current one)."""

    work_municipality_code: str
    residence_municipality_code: str
    valid_from: datetime
    valid_to: datetime | None


class ProcessingLogEntry(Camel):
    """Who processed this person's data, when, how and why (Logboek Dataverwerkingen)."""

    registration_id: str
    occurred_at: datetime
    action: str
    activity: str
    purpose: str
    organisation_oin: str
    client_id: str
    trace_id: str


class ProcessingLogPage(Page[ProcessingLogEntry]):
    """A page of processing-log records, oldest first."""


class SubjectRegistration(Camel):
    """One registration of the person, its periods and every processing-log record about it."""

    registration: RegistrationRead
    periods: list[PeriodRead]
    processing_log: list[ProcessingLogEntry]


class SubjectAccessExport(Camel):
    """Everything the registry holds about one person (GDPR art. 15), as JSON."""

    generated_at: datetime
    registrations: list[SubjectRegistration]


class BulkLineResult(Camel):
    line: int
    status: Literal["created", "invalid"]
    id: str | None = None
    errors: list[dict[str, str]] | None = None


class BulkResult(Camel):
    """The outcome of every line: created, or every error of that line."""

    created: int
    invalid: int
    results: list[BulkLineResult]
