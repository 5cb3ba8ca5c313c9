"""The registry's rules: registering, reading, changing, departing, searching; no HTTP here."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import and_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from lmx_common.auth import OrganisationType, Principal
from lmx_common.problems import InvalidParam, invalid_input, validation_params
from lmx_common.scopes import Scope
from services.registry import errors, validation
from services.registry.crypto import BsnVault
from services.registry.models import Registration
from services.registry.schemas import (
    Contact,
    DepartureCreate,
    DepartureRead,
    Destination,
    PersonRead,
    RegisteredBy,
    RegistrationCreate,
    RegistrationRead,
    ResidenceRead,
    WorkRead,
)
from services.registry.visibility import REGISTRARS, may_see, visible

# What a merge patch may touch; everything else is refused (read-only or unknown), never ignored.
PATCHABLE = {"person", "registrationType", "residence", "work", "arrivalDate", "expectedEndDate"}
READ_ONLY = {"id", "status", "channel", "departure", "registeredBy", "createdAt", "updatedAt", "anonymised"}


def etag(registration: Registration) -> str:
    return f'"{registration.version}"'


def cross_field_problems(body: RegistrationCreate) -> list[InvalidParam]:
    """Rules that relate fields; reported together once every field is valid on its own."""
    problems = []
    age = validation.age_on(body.person.date_of_birth, body.arrival_date)
    if not validation.MIN_WORKING_AGE <= age <= validation.MAX_WORKING_AGE:
        problems.append(
            InvalidParam(
                "person.dateOfBirth",
                f"age at arrival is {age}; working age is {validation.MIN_WORKING_AGE}-{validation.MAX_WORKING_AGE}",
                "implausible",
                "body",
            )
        )
    if body.expected_end_date is not None and body.expected_end_date <= body.arrival_date:
        problems.append(InvalidParam("expectedEndDate", "must lie after the arrival date", "implausible", "body"))
    if body.work.start_date is not None and body.work.start_date < validation.EARLIEST_DATE:
        problems.append(
            InvalidParam("work.startDate", "a start date before 1990 is not plausible", "implausible", "body")
        )
    return problems


def check_may_register(principal: Principal, body: RegistrationCreate) -> None:
    if principal.organisation_type not in REGISTRARS:
        raise errors.may_not_register()
    if principal.organisation_type == OrganisationType.MUNICIPALITY and principal.municipality_code not in (
        body.residence.municipality_code,
        body.work.municipality_code,
    ):
        raise errors.may_not_register()


def _apply(registration: Registration, body: RegistrationCreate, vault: BsnVault) -> None:
    person = body.person
    registration.bsn_pseudonym = vault.pseudonym(person.bsn) if person.bsn else None
    registration.bsn_encrypted = vault.encrypt(person.bsn) if person.bsn else None
    registration.given_names = person.given_names
    registration.surname = person.surname
    registration.date_of_birth = person.date_of_birth
    registration.nationality = person.nationality
    registration.contact_email = person.contact.email if person.contact else None
    registration.contact_phone = person.contact.phone if person.contact else None
    registration.registration_type = body.registration_type
    registration.residence_municipality_code = body.residence.municipality_code
    registration.residence_postcode = body.residence.postcode
    registration.residence_house_number = body.residence.house_number
    registration.housing_location_id = body.residence.housing_location_id
    registration.work_municipality_code = body.work.municipality_code
    registration.employer_kvk_number = body.work.employer_kvk_number
    registration.agency_kvk_number = body.work.agency_kvk_number
    registration.economic_location_id = body.work.economic_location_id
    registration.work_start_date = body.work.start_date
    registration.arrival_date = body.arrival_date
    registration.expected_end_date = body.expected_end_date


def plain_fields(body: RegistrationCreate) -> dict[str, Any]:
    """A validated create body as column values, the BSN still in clear under "bsn" (the shape of
    fast_validation.Checker.plain_row)."""
    person, residence, work = body.person, body.residence, body.work
    return {
        "bsn": person.bsn,
        "given_names": person.given_names,
        "surname": person.surname,
        "date_of_birth": person.date_of_birth,
        "nationality": person.nationality,
        "contact_email": person.contact.email if person.contact else None,
        "contact_phone": person.contact.phone if person.contact else None,
        "registration_type": body.registration_type,
        "channel": body.channel,
        "residence_municipality_code": residence.municipality_code,
        "residence_postcode": residence.postcode,
        "residence_house_number": residence.house_number,
        "housing_location_id": residence.housing_location_id,
        "work_municipality_code": work.municipality_code,
        "employer_kvk_number": work.employer_kvk_number,
        "agency_kvk_number": work.agency_kvk_number,
        "economic_location_id": work.economic_location_id,
        "work_start_date": work.start_date,
        "arrival_date": body.arrival_date,
        "expected_end_date": body.expected_end_date,
    }


# A new registration's columns, in the order of registration_values.
REGISTRATION_COLUMNS = (
    "id",
    "bsn_pseudonym",
    "bsn_encrypted",
    "given_names",
    "surname",
    "date_of_birth",
    "nationality",
    "contact_email",
    "contact_phone",
    "registration_type",
    "channel",
    "residence_municipality_code",
    "residence_postcode",
    "residence_house_number",
    "housing_location_id",
    "work_municipality_code",
    "employer_kvk_number",
    "agency_kvk_number",
    "economic_location_id",
    "work_start_date",
    "arrival_date",
    "expected_end_date",
    "status",
    "created_by_oin",
    "created_by_client_id",
    "created_by_type",
    "created_at",
    "updated_at",
    "version",
)


def registration_values(
    registration_id: str,
    pseudonym: str | None,
    encrypted: str | None,
    plain: dict[str, Any],
    principal: Principal,
    now: datetime,
) -> tuple[Any, ...]:
    """A new registration's values in REGISTRATION_COLUMNS order, for bulk inserts (no ORM object per
    row); the columns not named (departure, anonymisation) stay NULL."""
    return (
        registration_id,
        pseudonym,
        encrypted,
        plain["given_names"],
        plain["surname"],
        plain["date_of_birth"],
        plain["nationality"],
        plain["contact_email"],
        plain["contact_phone"],
        plain["registration_type"],
        plain["channel"],
        plain["residence_municipality_code"],
        plain["residence_postcode"],
        plain["residence_house_number"],
        plain["housing_location_id"],
        plain["work_municipality_code"],
        plain["employer_kvk_number"],
        plain["agency_kvk_number"],
        plain["economic_location_id"],
        plain["work_start_date"],
        plain["arrival_date"],
        plain["expected_end_date"],
        "active",
        principal.organisation_oin,
        principal.client_id,
        principal.organisation_type.value,
        now,
        now,
        1,
    )


def new_registration(body: RegistrationCreate, principal: Principal, vault: BsnVault, now: datetime) -> Registration:
    registration = Registration(
        id=str(uuid.uuid4()),
        channel=body.channel,
        status="active",
        created_by_oin=principal.organisation_oin,
        created_by_client_id=principal.client_id,
        created_by_type=principal.organisation_type.value,
        created_at=now,
        updated_at=now,
        version=1,
    )
    _apply(registration, body, vault)
    return registration


async def active_pseudonyms(session: AsyncSession, pseudonyms: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(pseudonyms), 5000):  # one query per bulk request
        chunk = pseudonyms[start : start + 5000]
        rows = await session.execute(
            select(Registration.bsn_pseudonym).where(
                Registration.bsn_pseudonym.in_(chunk), Registration.status == "active"
            )
        )
        found.update(p for p in rows.scalars() if p)
    return found


async def create(
    session: AsyncSession, principal: Principal, body: RegistrationCreate, vault: BsnVault
) -> Registration:
    check_may_register(principal, body)
    problems = cross_field_problems(body)
    if problems:
        raise invalid_input(problems)
    registration = new_registration(body, principal, vault, datetime.now(UTC))
    if registration.bsn_pseudonym and await active_pseudonyms(session, [registration.bsn_pseudonym]):
        raise errors.already_registered()
    session.add(registration)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent request registered the same BSN a moment ago
        raise errors.already_registered() from exc
    return registration


async def get_visible(
    session: AsyncSession, principal: Principal, registration_id: str, for_update: bool = False
) -> Registration:
    try:
        uuid.UUID(registration_id)
    except ValueError:
        raise errors.not_found() from None
    query = select(Registration).where(Registration.id == registration_id, visible(principal))
    if for_update:
        query = query.with_for_update()
    registration = (await session.execute(query)).scalar_one_or_none()
    if registration is None:
        raise errors.not_found()
    return registration


def as_create_document(registration: Registration, vault: BsnVault) -> dict[str, Any]:
    """The registration in the shape of a create body, for merge-patching."""
    read = to_read(registration, vault).model_dump(mode="json", by_alias=True)
    person = {k: v for k, v in read["person"].items() if v is not None}
    if person.get("contact") is not None:
        person["contact"] = {k: v for k, v in person["contact"].items() if v is not None}
    return {
        "person": person,
        "registrationType": read["registrationType"],
        "channel": read["channel"],
        "residence": {k: v for k, v in read["residence"].items() if v is not None},
        "work": {k: v for k, v in read["work"].items() if v is not None},
        "arrivalDate": read["arrivalDate"],
        **({"expectedEndDate": read["expectedEndDate"]} if read["expectedEndDate"] else {}),
    }


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


async def update(
    session: AsyncSession, principal: Principal, registration: Registration, patch: dict[str, Any], vault: BsnVault
) -> Registration:
    refused = [
        InvalidParam(
            key,
            "read-only: use the departure sub-resource"
            if key in ("status", "departure")
            else "read-only"
            if key in READ_ONLY
            else "unknown field",
            "not-allowed",
            "body",
        )
        for key in patch
        if key not in PATCHABLE
    ]
    if refused:
        raise invalid_input(refused)
    if registration.anonymised_at is not None:
        raise errors.already_departed()
    document = merge_patch(as_create_document(registration, vault), patch)
    try:
        body = RegistrationCreate.model_validate(document)
    except ValidationError as exc:
        raise invalid_input(validation_params([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()])) from exc
    problems = cross_field_problems(body)
    if problems:
        raise invalid_input(problems)
    if principal.organisation_type == OrganisationType.MUNICIPALITY:
        check_may_register(principal, body)  # a municipality cannot move a registration out of its sight
    new_pseudonym = vault.pseudonym(body.person.bsn) if body.person.bsn else None
    if (
        new_pseudonym
        and new_pseudonym != registration.bsn_pseudonym
        and registration.status == "active"
        and await active_pseudonyms(session, [new_pseudonym])
    ):
        raise errors.already_registered()
    _apply(registration, body, vault)
    registration.updated_at = datetime.now(UTC)
    await _flush_versioned(session, registration)
    return registration


async def depart(session: AsyncSession, registration: Registration, departure: DepartureCreate) -> Registration:
    if registration.status == "departed":
        raise errors.already_departed()
    problems = []
    if departure.date < registration.arrival_date:
        problems.append(InvalidParam("date", "the departure lies before the arrival", "implausible", "body"))
    if departure.date > date.today():
        problems.append(InvalidParam("date", "a departure is recorded once it happened", "implausible", "body"))
    destination = departure.destination
    if destination.type == "municipality" and destination.municipality_code is None:
        problems.append(InvalidParam("destination.municipalityCode", "required for a municipality", "required", "body"))
    if destination.type == "abroad" and destination.country_code is None:
        problems.append(InvalidParam("destination.countryCode", "required for abroad", "required", "body"))
    if problems:
        raise invalid_input(problems)
    registration.status = "departed"
    registration.departure_date = departure.date
    registration.departure_reason = departure.reason
    registration.departure_destination_type = destination.type
    registration.departure_destination_code = (
        destination.municipality_code
        if destination.type == "municipality"
        else destination.country_code
        if destination.type == "abroad"
        else None
    )
    registration.updated_at = datetime.now(UTC)
    await _flush_versioned(session, registration)
    return registration


async def _flush_versioned(session: AsyncSession, registration: Registration) -> None:
    """Flush an update; the version check (version_id_col) refuses a change made concurrently."""
    try:
        await session.flush()  # raises StaleDataError when another request changed it first
    except StaleDataError as exc:
        raise errors.changed_concurrently() from exc
    except IntegrityError as exc:  # the new BSN was registered concurrently
        raise errors.already_registered() from exc


async def search_by_bsn(session: AsyncSession, principal: Principal, bsn: str, vault: BsnVault) -> list[Registration]:
    query = (
        select(Registration)
        .where(Registration.bsn_pseudonym == vault.pseudonym(bsn), visible(principal))
        .order_by(Registration.created_at, Registration.id)
        .limit(100)
    )
    return list((await session.execute(query)).scalars())


async def list_visible(
    session: AsyncSession,
    principal: Principal,
    *,
    work_municipality_code: str | None,
    residence_municipality_code: str | None,
    status: str | None,
    arrived_from: date | None,
    arrived_to: date | None,
    after_id: str | None,
    limit: int,
) -> list[Registration]:
    conditions = [visible(principal)]
    if work_municipality_code:
        conditions.append(Registration.work_municipality_code == work_municipality_code)
    if residence_municipality_code:
        conditions.append(Registration.residence_municipality_code == residence_municipality_code)
    if status:
        conditions.append(Registration.status == status)
    if arrived_from:
        conditions.append(Registration.arrival_date >= arrived_from)
    if arrived_to:
        conditions.append(Registration.arrival_date <= arrived_to)
    if after_id:
        conditions.append(Registration.id > after_id)
    query = select(Registration).where(and_(*conditions)).order_by(Registration.id).limit(limit)
    return list((await session.execute(query)).scalars())


def to_read(registration: Registration, vault: BsnVault) -> RegistrationRead:
    contact = None
    if registration.contact_email or registration.contact_phone:
        contact = Contact(email=registration.contact_email, phone=registration.contact_phone)
    departure = None
    if registration.status == "departed" and registration.departure_date and registration.departure_reason:
        kind = registration.departure_destination_type or "unknown"
        departure = DepartureRead(
            date=registration.departure_date,
            reason=registration.departure_reason,
            destination=Destination.model_construct(
                type=kind,  # type: ignore[arg-type]
                municipality_code=registration.departure_destination_code if kind == "municipality" else None,
                country_code=registration.departure_destination_code if kind == "abroad" else None,
            ),
        )
    return RegistrationRead(
        id=registration.id,
        status=registration.status,
        person=PersonRead(
            bsn=vault.decrypt(registration.bsn_encrypted) if registration.bsn_encrypted else None,
            given_names=registration.given_names,
            surname=registration.surname,
            date_of_birth=registration.date_of_birth,
            nationality=registration.nationality,
            contact=contact,
        ),
        registration_type=registration.registration_type,
        channel=registration.channel,
        residence=ResidenceRead(
            municipality_code=registration.residence_municipality_code,
            postcode=registration.residence_postcode,
            house_number=registration.residence_house_number,
            housing_location_id=registration.housing_location_id,
        ),
        work=WorkRead(
            municipality_code=registration.work_municipality_code,
            employer_kvk_number=registration.employer_kvk_number,
            agency_kvk_number=registration.agency_kvk_number,
            economic_location_id=registration.economic_location_id,
            start_date=registration.work_start_date,
        ),
        arrival_date=registration.arrival_date,
        expected_end_date=registration.expected_end_date,
        departure=departure,
        registered_by=RegisteredBy(
            organisation_oin=registration.created_by_oin,
            organisation_type=registration.created_by_type,
            client_id=registration.created_by_client_id,
        ),
        created_at=registration.created_at,
        updated_at=registration.updated_at,
        anonymised=registration.anonymised_at is not None,
    )


def may_read_log(principal: Principal, registration: Registration) -> bool:
    """The processing log of a person: auditors, and the municipality concerned."""
    if principal.has_scope(Scope.AUDIT_READ):
        return True
    return principal.organisation_type == OrganisationType.MUNICIPALITY and may_see(principal, registration)
