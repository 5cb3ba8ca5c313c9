"""The registry's rules: registering, reading, changing, departing, searching, importing; no HTTP here.

Each operation writes what it causes in the caller's transaction: the registration, its
processing-log records and its events, so that they commit together or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from lmx_common import problems
from lmx_common.auth import OrganisationType, Principal
from lmx_common.db import Database
from lmx_common.etag import check_if_match
from lmx_common.problems import InvalidParam, invalid_input, validation_params
from lmx_common.scopes import Scope
from services.registry import bulk, errors, events, fields, idempotency, processing_log, repository
from services.registry.context import RequestContext
from services.registry.crypto import BsnVault
from services.registry.models import Municipality, ProcessingLogRecord, Registration
from services.registry.schemas import (
    DepartureCreate,
    DepartureRead,
    Destination,
    RegisteredBy,
    RegistrationCreate,
    RegistrationRead,
)
from services.registry.validation import cross_field_problems
from services.registry.visibility import check_may_register, may_see

# What a merge patch may touch; everything else is refused (read-only or unknown), never ignored.
PATCHABLE = frozenset(fields.PATCHABLE)
READ_ONLY = {"id", "status", "departure", "registeredBy", "createdAt", "updatedAt", "anonymised"} | fields.NOT_PATCHABLE


@dataclass(frozen=True, slots=True)
class Idempotent:
    """A create request's Idempotency-Key, with the hash of its body."""

    database: Database
    key: str
    request_hash: str


def check_precondition(registration: Registration, if_match: str | None) -> None:
    """A change needs If-Match with the ETag of the registration as it is now (the kit's policy)."""
    check_if_match(if_match, registration.version, what="registration")


def new_registration(body: RegistrationCreate, principal: Principal, vault: BsnVault, now: datetime) -> Registration:
    registration = Registration(
        id=str(uuid.uuid4()),
        status="active",
        created_by_oin=principal.organisation_oin,
        created_by_client_id=principal.client_id,
        created_by_type=principal.organisation_type.value,
        created_at=now,
        updated_at=now,
        version=1,
    )
    fields.apply(registration, body, vault)
    return registration


async def _create(
    session: AsyncSession, principal: Principal, body: RegistrationCreate, vault: BsnVault
) -> Registration:
    check_may_register(principal, body)
    problems = cross_field_problems(body)
    if problems:
        raise invalid_input(problems)
    registration = new_registration(body, principal, vault, datetime.now(UTC))
    if registration.bsn_pseudonym and await repository.active_pseudonyms(session, [registration.bsn_pseudonym]):
        raise errors.already_registered()
    try:
        await repository.add(session, registration)
    except IntegrityError as exc:  # a concurrent request registered the same BSN a moment ago
        raise errors.already_registered() from exc
    return registration


async def create(
    session: AsyncSession,
    context: RequestContext,
    body: RegistrationCreate,
    vault: BsnVault,
    idempotent: Idempotent | None = None,
) -> Registration:
    """Register, with its processing-log record and its event. With an Idempotency-Key, a retry of a
    request done already answers what that request created (logged as a read)."""
    principal = context.principal
    if idempotent is not None:
        earlier = await idempotency.claim(
            idempotent.database, principal.client_id, idempotent.key, idempotent.request_hash
        )
        if earlier is not None:
            return await read(session, context, earlier)
    try:
        registration = await _create(session, principal, body, vault)
        await processing_log.record(session, context, principal, "create", [registration.id])
        await events.registration_created(session, registration)
        if idempotent is not None:
            await idempotency.complete(session, principal.client_id, idempotent.key, registration.id)
    except BaseException:
        if idempotent is not None:
            await session.rollback()
            await idempotency.release(idempotent.database, principal.client_id, idempotent.key)
        raise
    return registration


async def get_visible(
    session: AsyncSession, principal: Principal, registration_id: str, for_update: bool = False
) -> Registration:
    """A registration the caller may see; no processing-log record (the operation writes its own)."""
    try:
        uuid.UUID(registration_id)
    except ValueError:
        raise problems.not_found("registration") from None
    registration = await repository.get_visible(session, principal, registration_id, for_update)
    if registration is None:
        raise problems.not_found("registration")
    return registration


async def read(session: AsyncSession, context: RequestContext, registration_id: str) -> Registration:
    """One registration, with its processing-log record."""
    registration = await get_visible(session, context.principal, registration_id)
    await processing_log.record(session, context, context.principal, "read", [registration.id])
    return registration


def as_create_document(registration: Registration, vault: BsnVault) -> dict[str, Any]:
    """The registration in the shape of a create body, for merge-patching."""
    return fields.create_document(to_read(registration, vault).model_dump(mode="json", by_alias=True))


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
    session: AsyncSession,
    context: RequestContext,
    registration: Registration,
    patch: dict[str, Any],
    vault: BsnVault,
) -> Registration:
    """Apply a merge patch to a registration read for update (get_visible, check_precondition), with
    its processing-log record."""
    principal = context.principal
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
        and await repository.active_pseudonyms(session, [new_pseudonym])
    ):
        raise errors.already_registered()
    fields.apply(registration, body, vault)
    registration.updated_at = datetime.now(UTC)
    await _flush_versioned(session, registration)
    await processing_log.record(session, context, principal, "update", [registration.id])
    return registration


async def depart(
    session: AsyncSession, context: RequestContext, registration_id: str, departure: DepartureCreate
) -> Registration:
    """Record a departure (the status becomes departed), with its processing-log record and its event."""
    registration = await get_visible(session, context.principal, registration_id, for_update=True)
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
    await processing_log.record(session, context, context.principal, "depart", [registration.id])
    await events.registration_departed(session, registration)
    return registration


async def _flush_versioned(session: AsyncSession, registration: Registration) -> None:
    """Flush an update; the version check (version_id_col) refuses a change made concurrently."""
    try:
        await repository.flush(session)  # raises StaleDataError when another request changed it first
    except StaleDataError as exc:
        raise problems.changed_concurrently("registration") from exc
    except IntegrityError as exc:  # the new BSN was registered concurrently
        raise errors.already_registered() from exc


async def search(session: AsyncSession, context: RequestContext, bsn: str, vault: BsnVault) -> list[Registration]:
    """The registrations of a BSN the caller may see (at most 100), with their processing-log records."""
    rows = await repository.search_by_pseudonym(session, context.principal, vault.pseudonym(bsn))
    await processing_log.record(session, context, context.principal, "search", [r.id for r in rows])
    return rows


async def list_visible(
    session: AsyncSession,
    context: RequestContext,
    *,
    work_municipality_code: str | None,
    residence_municipality_code: str | None,
    status: str | None,
    arrived_from: date | None,
    arrived_to: date | None,
    after_id: str | None,
    page_size: int,
) -> tuple[list[Registration], bool]:
    """A page of the registrations the caller may see, with their processing-log records, and whether
    more follow."""
    rows = await repository.list_visible(
        session,
        context.principal,
        work_municipality_code=work_municipality_code,
        residence_municipality_code=residence_municipality_code,
        status=status,
        arrived_from=arrived_from,
        arrived_to=arrived_to,
        after_id=after_id,
        limit=page_size + 1,
    )
    page = rows[:page_size]
    await processing_log.record(session, context, context.principal, "list", [r.id for r in page])
    return page, len(rows) > page_size


async def bulk_create(
    session: AsyncSession, context: RequestContext, lines: list[tuple[int, Any]], vault: BsnVault
) -> dict[str, Any]:
    """Import parsed lines (bulk.parse): the valid ones are created, with their processing-log records
    and events. Returns the answer's body (BulkResult's JSON)."""
    result, created = await bulk.import_lines(session, context.principal, lines, vault)
    for start in range(0, len(created), bulk.WRITE_SLICE):  # one statement at a time holds the loop: bulk.py
        part = created[start : start + bulk.WRITE_SLICE]
        await processing_log.record(session, context, context.principal, "create", [c.id for c in part])
        await events.registrations_created(
            session, [(c.work_municipality_code, c.residence_municipality_code) for c in part]
        )
    return result


def to_read(registration: Registration, vault: BsnVault) -> RegistrationRead:
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
    document = fields.read_document(registration, vault.decrypt)
    document["id"] = registration.id
    document["status"] = registration.status
    document["departure"] = departure
    document["registered_by"] = RegisteredBy(
        organisation_oin=registration.created_by_oin,
        organisation_type=registration.created_by_type,
        client_id=registration.created_by_client_id,
    )
    document["created_at"] = registration.created_at
    document["updated_at"] = registration.updated_at
    document["anonymised"] = registration.anonymised_at is not None
    return RegistrationRead.model_validate(document)


def may_read_log(principal: Principal, registration: Registration) -> bool:
    """The processing log of a person: auditors, and the municipality concerned."""
    if principal.has_scope(Scope.AUDIT_READ):
        return True
    return principal.organisation_type == OrganisationType.MUNICIPALITY and may_see(principal, registration)


async def check_may_read_log(session: AsyncSession, principal: Principal, registration_id: str) -> None:
    """Not found unless the registration exists and the caller may read its processing log."""
    try:
        uuid.UUID(registration_id)
    except ValueError:
        raise problems.not_found("registration") from None
    registration = await repository.get_registration(session, registration_id)
    if registration is None or not may_read_log(principal, registration):
        raise problems.not_found("registration")


async def processing_log_page(
    session: AsyncSession, registration_id: str, after: int, page_size: int
) -> tuple[list[ProcessingLogRecord], bool]:
    """A page of a registration's processing log, oldest first, and whether more follow (after
    check_may_read_log)."""
    rows = await repository.processing_log_records(session, registration_id, after, page_size + 1)
    return rows[:page_size], len(rows) > page_size


async def list_municipalities(
    session: AsyncSession, province_code: str | None, after: str | None, limit: int
) -> Sequence[Municipality]:
    return await repository.list_municipalities(session, province_code, after, limit)


async def get_municipality(session: AsyncSession, code: str) -> Municipality | None:
    return await repository.get_municipality(session, code)
