"""Request and response bodies (lowerCamelCase JSON). Unknown fields are refused, never ignored."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field

from lmx_common.pagination import Page, page_example
from lmx_common.schemas import CamelInput as Camel
from lmx_common.schemas import CamelModel, examples
from lmx_common.validation import LOCATION_ID_PATTERN
from services.registry import validation
from services.registry.fields import HOUSE_NUMBER_PATTERN

MUNICIPALITY_EXAMPLE: dict[str, Any] = {
    "code": "GM0758",
    "name": "Breda",
    "provinceCode": "PV30",
    "provinceName": "Noord-Brabant",
}


class MunicipalityRead(CamelModel):
    """A municipality of the CBS list in force."""

    model_config = ConfigDict(json_schema_extra=examples(MUNICIPALITY_EXAMPLE))

    code: str = Field(examples=["GM1655"])
    name: str = Field(examples=["Halderberge"])
    province_code: str = Field(alias="provinceCode", examples=["PV30"])
    province_name: str = Field(alias="provinceName", examples=["Noord-Brabant"])


class MunicipalityPage(Page[MunicipalityRead]):
    """A page of municipalities."""

    model_config = ConfigDict(
        json_schema_extra=examples(page_example("/registry/v1/municipalities", MUNICIPALITY_EXAMPLE))
    )


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


REGISTRATION_ID_EXAMPLE = "6f1c2b3a-8d4e-4f5a-9b6c-7d8e9f0a1b2c"
REGISTERED_BY_EXAMPLE: dict[str, Any] = {
    "organisationOin": "00000099000000900758",
    "organisationType": "information-point",
    "clientId": "mip-west-brabant",
}
WORK_READ_EXAMPLE: dict[str, Any] = {
    "municipalityCode": "GM1709",
    "employerKvkNumber": "12345678",
    "agencyKvkNumber": "81234567",
    "economicLocationId": "wb-moerdijk-port",
    "startDate": "2026-03-02",
}
# The full record's example is given per field (RegistrationRead): a whole one would hold the key
# `postcode`, which the NL GOV linter takes for the method `post` below paths (nlgov:problem-invalid-input).
REGISTRATION_READ_EXAMPLE: dict[str, Any] = {
    "id": REGISTRATION_ID_EXAMPLE,
    "status": "active",
    "person": {**REGISTRATION_CREATE_EXAMPLE["person"]},
    "registrationType": "rni",
    "channel": "desk",
    "residence": {
        "municipalityCode": "GM1655",
        "postcode": None,
        "houseNumber": None,
        "housingLocationId": "wb-gm1655-01",
    },
    "work": WORK_READ_EXAMPLE,
    "arrivalDate": "2026-03-01",
    "expectedEndDate": "2026-09-30",
    "departure": None,
    "registeredBy": REGISTERED_BY_EXAMPLE,
    "createdAt": "2026-03-01T09:14:03.512000+00:00",
    "updatedAt": "2026-03-01T09:14:03.512000+00:00",
    "anonymised": False,
    "restricted": False,
}
REGISTRATION_SUMMARY_EXAMPLE: dict[str, Any] = {
    **REGISTRATION_READ_EXAMPLE,
    "person": {"givenNames": "Anna Maria", "surname": "Kowalska", "nationality": "PL"},
    "residence": {"municipalityCode": "GM1655", "housingLocationId": "wb-gm1655-01"},
}


class RegistrationCreate(Camel):
    """A new registration, by an information point or a municipality."""

    model_config = ConfigDict(json_schema_extra=examples(REGISTRATION_CREATE_EXAMPLE))

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
        json_schema_extra=examples(
            {
                "date": "2026-09-30",
                "reason": "contract-ended",
                "destination": {"type": "abroad", "countryCode": "PL"},
            }
        )
    )

    date: date
    reason: DepartureReason
    destination: Destination


class BsnSearch(Camel):
    model_config = ConfigDict(json_schema_extra=examples({"bsn": "111222333"}))

    bsn: Bsn


class RegisteredBy(Camel):
    model_config = ConfigDict(json_schema_extra=examples(REGISTERED_BY_EXAMPLE))

    organisation_oin: str
    organisation_type: str
    client_id: str


class DepartureRead(Camel):
    model_config = ConfigDict(
        json_schema_extra=examples(
            {"date": "2026-09-30", "reason": "contract-ended", "destination": {"type": "abroad", "countryCode": "PL"}}
        )
    )

    date: date
    reason: str
    destination: Destination


class PersonRead(Camel):
    model_config = ConfigDict(json_schema_extra=examples(REGISTRATION_READ_EXAMPLE["person"]))

    bsn: str | None
    given_names: str | None
    surname: str | None
    date_of_birth: date | None
    nationality: str | None
    contact: Contact | None


class ResidenceRead(Camel):
    """Its example is given per field, as is the registration's: a whole one would hold the key `postcode`,
    which the NL GOV linter takes for the method `post` (nlgov:problem-invalid-input)."""

    municipality_code: str = Field(examples=["GM1655"])
    postcode: str | None = Field(examples=["4731AB"])
    house_number: str | None = Field(examples=["12"])
    housing_location_id: str | None = Field(examples=["wb-gm1655-01"])


class WorkRead(Camel):
    model_config = ConfigDict(json_schema_extra=examples(WORK_READ_EXAMPLE))

    municipality_code: str
    employer_kvk_number: str
    agency_kvk_number: str | None
    economic_location_id: str | None
    start_date: date | None


class RegistrationRead(Camel):
    """A registration as its registrar and the municipalities concerned see it. (Its example is given
    per field: a whole one would hold the residence's key `postcode`, see ResidenceRead.)"""

    id: str = Field(examples=[REGISTRATION_ID_EXAMPLE])
    status: Literal["active", "departed"] = Field(examples=["active"])
    person: PersonRead
    registration_type: str = Field(examples=["rni"])
    channel: str = Field(examples=["desk"])
    residence: ResidenceRead
    work: WorkRead
    arrival_date: date = Field(examples=["2026-03-01"])
    expected_end_date: date | None = Field(examples=["2026-09-30"])
    departure: DepartureRead | None
    registered_by: RegisteredBy
    created_at: datetime = Field(examples=["2026-03-01T09:14:03.512000+00:00"])
    updated_at: datetime = Field(examples=["2026-03-01T09:14:03.512000+00:00"])
    anonymised: bool = Field(examples=[False])
    restricted: bool = Field(examples=[False])


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

    model_config = ConfigDict(json_schema_extra=examples(REGISTRATION_SUMMARY_EXAMPLE))

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

    model_config = ConfigDict(
        json_schema_extra=examples(page_example("/registry/v1/registrations", REGISTRATION_SUMMARY_EXAMPLE))
    )


FieldSet = Literal["summary", "full"]

ErasureGround = Literal[
    "no-longer-necessary", "consent-withdrawn", "objection", "unlawful-processing", "legal-obligation"
]
RestrictionGround = Literal["accuracy-contested", "unlawful-processing", "legal-claims", "objection-pending"]


class ErasureRequest(Camel):
    """Erase a registration's personal data now (GDPR art. 17); statistics are kept."""

    model_config = ConfigDict(json_schema_extra=examples({"reason": "no-longer-necessary"}))

    reason: ErasureGround


class RestrictionRequest(Camel):
    """Restrict the processing of a registration (GDPR art. 18)."""

    model_config = ConfigDict(json_schema_extra=examples({"reason": "accuracy-contested"}))

    reason: RestrictionGround


class SubjectAccessRequest(Camel):
    """A data subject's request for access (GDPR art. 15): the person is found by BSN, in the body."""

    model_config = ConfigDict(json_schema_extra=examples({"bsn": "111222333"}))

    bsn: Bsn


PERIOD_EXAMPLE: dict[str, Any] = {
    "workMunicipalityCode": "GM1709",
    "residenceMunicipalityCode": "GM1655",
    "validFrom": "2026-03-01T09:14:03.512000+00:00",
    "validTo": None,
}


class PeriodRead(Camel):
    """A period in which the registration had these work and residence municipalities (validTo null:
    the current one)."""

    model_config = ConfigDict(json_schema_extra=examples(PERIOD_EXAMPLE))

    work_municipality_code: str
    residence_municipality_code: str
    valid_from: datetime
    valid_to: datetime | None


PROCESSING_LOG_ENTRY_EXAMPLE: dict[str, Any] = {
    "registrationId": REGISTRATION_ID_EXAMPLE,
    "occurredAt": "2026-03-01T09:14:03.512000+00:00",
    "action": "create",
    "activity": "lmx-information-point",
    "purpose": "Informing and assisting labour migrants at an information point, and registering them on behalf "
    "of the municipalities concerned.",
    "organisationOin": "00000099000000900758",
    "clientId": "mip-west-brabant",
    "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
}


class ProcessingLogEntry(Camel):
    """Who processed this person's data, when, how and why (Logboek Dataverwerkingen)."""

    model_config = ConfigDict(json_schema_extra=examples(PROCESSING_LOG_ENTRY_EXAMPLE))

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

    model_config = ConfigDict(
        json_schema_extra=examples(page_example("/registry/v1/processing-log", PROCESSING_LOG_ENTRY_EXAMPLE))
    )


class SubjectRegistration(Camel):
    """One registration of the person, its periods and every processing-log record about it."""

    registration: RegistrationRead
    periods: list[PeriodRead]
    processing_log: list[ProcessingLogEntry]


class SubjectAccessExport(Camel):
    """Everything the registry holds about one person (GDPR art. 15), as JSON. (Its example is given per
    field: a whole one would hold the residence's key `postcode`, see ResidenceRead.)"""

    generated_at: datetime = Field(examples=["2026-04-02T13:45:10.118000+00:00"])
    registrations: list[SubjectRegistration]


class BulkLineResult(Camel):
    line: int
    status: Literal["created", "invalid"]
    id: str | None = None
    errors: list[dict[str, str]] | None = None


class BulkResult(Camel):
    """The outcome of every line: created, or every error of that line."""

    model_config = ConfigDict(
        json_schema_extra=examples(
            {
                "created": 1,
                "invalid": 1,
                "results": [
                    {"line": 1, "status": "created", "id": REGISTRATION_ID_EXAMPLE, "errors": None},
                    {
                        "line": 2,
                        "status": "invalid",
                        "id": None,
                        "errors": [
                            {
                                "name": "person.bsn",
                                "code": "duplicate",
                                "reason": "An active registration for this BSN exists already.",
                            }
                        ],
                    },
                ],
            }
        )
    )

    created: int
    invalid: int
    results: list[BulkLineResult]
