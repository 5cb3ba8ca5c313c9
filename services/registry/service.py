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
from lmx_common.disclosure import new_record_key
from lmx_common.etag import check_if_match
from lmx_common.pagination import cursor_value
from lmx_common.problems import InvalidParam, invalid_input, validation_params
from lmx_common.scopes import Scope
from services.registry import activities, bulk, errors, events, fields, idempotency, processing_log, repository
from services.registry.context import RequestContext
from services.registry.crypto import BsnVault
from services.registry.models import Municipality, ProcessingLogRecord, Registration, RegistrationPeriod
from services.registry.schemas import (
    DepartureCreate,
    DepartureRead,
    Destination,
    ErasureRequest,
    PeriodRead,
    ProcessingLogEntry,
    RegisteredBy,
    RegistrationCreate,
    RegistrationRead,
    RegistrationSummary,
    RestrictionRequest,
    SubjectAccessExport,
    SubjectRegistration,
)
from services.registry.validation import cross_field_problems
from services.registry.visibility import check_field_set, check_may_register

# What a merge patch may touch; everything else is refused (read-only or unknown), never ignored.
PATCHABLE = frozenset(fields.PATCHABLE)
READ_ONLY = {
    "id",
    "status",
    "departure",
    "registeredBy",
    "createdAt",
    "updatedAt",
    "anonymised",
    "restricted",
} | fields.NOT_PATCHABLE


@dataclass(frozen=True, slots=True)
class Idempotent:
    """A create request's Idempotency-Key, with the hash of its body."""

    database: Database
    key: str
    request_hash: str


def check_activity(context: RequestContext, action: str) -> str:
    """The request's processing activity, if it covers this action for the caller (else 403)."""
    return activities.check(context.principal, context.activity, action)


async def _log_duplicate_check(session: AsyncSession, context: RequestContext, pseudonyms: Sequence[str]) -> None:
    """A create or change refused because the BSN has an active registration discloses that it exists:
    the disclosure is logged against the matched registration, and committed although the request
    fails (nothing else of the request has been written; what was is rolled back first)."""
    await session.rollback()
    matched = await repository.active_with_pseudonym(session, pseudonyms)
    if matched is not None:
        await processing_log.record(session, context, context.principal, "duplicate-check", [matched])
        await session.commit()


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
        record_key=new_record_key(),
    )
    fields.apply(registration, body, vault)
    return registration


async def _create(
    session: AsyncSession, context: RequestContext, body: RegistrationCreate, vault: BsnVault
) -> Registration:
    principal = context.principal
    check_may_register(principal, body)
    problems = cross_field_problems(body)
    if problems:
        raise invalid_input(problems)
    registration = new_registration(body, principal, vault, datetime.now(UTC))
    # Every key's pseudonym: while keys rotate, an active registration may still have the previous one.
    pseudonyms = vault.pseudonyms(body.person.bsn) if body.person.bsn else ()
    if pseudonyms and await repository.active_pseudonyms(session, pseudonyms):
        await _log_duplicate_check(session, context, pseudonyms)
        raise errors.already_registered()
    try:
        await repository.add(session, registration)
    except IntegrityError as exc:  # a concurrent request registered the same BSN a moment ago
        if pseudonyms:
            await _log_duplicate_check(session, context, pseudonyms)
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
    check_activity(context, "create")
    if idempotent is not None:
        earlier = await idempotency.claim(
            idempotent.database, principal.client_id, idempotent.key, idempotent.request_hash
        )
        if earlier is not None:
            return await read(session, context, earlier)
    try:
        registration = await _create(session, context, body, vault)
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
    session: AsyncSession,
    principal: Principal,
    registration_id: str,
    for_update: bool = False,
    activity: str | None = None,
) -> Registration:
    """A registration the caller may see for this activity; no processing-log record (the operation
    writes its own)."""
    try:
        uuid.UUID(registration_id)
    except ValueError:
        raise problems.not_found("registration") from None
    registration = await repository.get_visible(session, principal, registration_id, for_update, activity)
    if registration is None:
        raise problems.not_found("registration")
    return registration


async def load_for_update(session: AsyncSession, context: RequestContext, registration_id: str) -> Registration:
    """A registration the caller may change, locked (then check_precondition and update)."""
    activity = check_activity(context, "update")
    return await get_visible(session, context.principal, registration_id, for_update=True, activity=activity)


async def read(session: AsyncSession, context: RequestContext, registration_id: str) -> Registration:
    """One registration, with its processing-log record."""
    activity = check_activity(context, "read")
    registration = await get_visible(session, context.principal, registration_id, activity=activity)
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
    its processing-log record. A change of the work or residence municipality closes a period
    (registration_periods): the municipality it ends for keeps reading the log of its period."""
    principal = context.principal
    check_activity(context, "update")
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
    new_pseudonyms = vault.pseudonyms(body.person.bsn) if body.person.bsn else ()
    if (
        new_pseudonyms
        and registration.bsn_pseudonym not in new_pseudonyms
        and registration.status == "active"
        and await repository.active_pseudonyms(session, new_pseudonyms)
    ):
        await _log_duplicate_check(session, context, new_pseudonyms)
        raise errors.already_registered()
    before = (registration.work_municipality_code, registration.residence_municipality_code)
    fields.apply(registration, body, vault)
    now = datetime.now(UTC)
    registration.updated_at = now
    if (registration.work_municipality_code, registration.residence_municipality_code) != before:
        await _close_period(session, registration, before, now)
    await _flush_versioned(session, registration)
    await processing_log.record(session, context, principal, "update", [registration.id])
    return registration


async def depart(
    session: AsyncSession, context: RequestContext, registration_id: str, departure: DepartureCreate
) -> Registration:
    """Record a departure (the status becomes departed), with its processing-log record and its event."""
    activity = check_activity(context, "depart")
    registration = await get_visible(session, context.principal, registration_id, for_update=True, activity=activity)
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
    activity = check_activity(context, "search")
    rows = await repository.search_by_pseudonym(session, context.principal, vault.pseudonyms(bsn), activity)
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
    activity = check_activity(context, "list")
    rows = await repository.list_visible(
        session,
        context.principal,
        activity=activity,
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
    check_activity(context, "create")
    result, created = await bulk.import_lines(session, context.principal, lines, vault)
    for start in range(0, len(created), bulk.WRITE_SLICE):  # one statement at a time holds the loop: bulk.py
        part = created[start : start + bulk.WRITE_SLICE]
        await processing_log.record(session, context, context.principal, "create", [c.id for c in part])
        await events.registrations_created(
            session,
            [(c.work_municipality_code, c.residence_municipality_code) for c in part],
            context.principal.organisation_oin,
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
    document["restricted"] = registration.restricted_at is not None
    return RegistrationRead.model_validate(document)


# Minimisation: what a list or search answer leaves out of the summary field set.
_NOT_IN_SUMMARY = {"person": ("bsn", "dateOfBirth", "contact"), "residence": ("postcode", "houseNumber")}


def check_field_set_allowed(context: RequestContext, field_set: str) -> None:
    check_field_set(context.principal, field_set)


def to_item(registration: Registration, vault: BsnVault, field_set: str) -> RegistrationSummary | RegistrationRead:
    """A list or search item in the field set asked for (check_field_set_allowed first)."""
    if field_set == "full":
        return to_read(registration, vault)
    document = to_read(registration, _NO_DECRYPT).model_dump(by_alias=True)
    for group, left_out in _NOT_IN_SUMMARY.items():
        for key in left_out:
            document[group].pop(key)
    return RegistrationSummary.model_validate(document)


class _NoDecrypt:
    """A summary never shows the BSN: it is not even decrypted."""

    @staticmethod
    def decrypt(_value: str) -> None:
        return None


_NO_DECRYPT: Any = _NoDecrypt()


Periods = list[tuple[datetime, datetime | None]]


async def _close_period(
    session: AsyncSession, registration: Registration, codes: tuple[str, str], now: datetime
) -> None:
    """Keep the period that ends now, with the (work, residence) municipalities it had."""
    earlier = await repository.periods(session, registration.id)
    start = earlier[-1].valid_to if earlier else registration.created_at
    period = RegistrationPeriod(
        registration_id=registration.id,
        work_municipality_code=codes[0],
        residence_municipality_code=codes[1],
        valid_from=start,
        valid_to=now,
    )
    await repository.add_period(session, period)


async def all_periods(session: AsyncSession, registration: Registration) -> list[PeriodRead]:
    """Every period of a registration, oldest first; the last one (validTo null) is the current one."""
    earlier = await repository.periods(session, registration.id)
    found = [
        PeriodRead(
            work_municipality_code=p.work_municipality_code,
            residence_municipality_code=p.residence_municipality_code,
            valid_from=p.valid_from,
            valid_to=p.valid_to,
        )
        for p in earlier
    ]
    found.append(
        PeriodRead(
            work_municipality_code=registration.work_municipality_code,
            residence_municipality_code=registration.residence_municipality_code,
            valid_from=earlier[-1].valid_to if earlier else registration.created_at,
            valid_to=None,
        )
    )
    return found


async def log_scope(session: AsyncSession, principal: Principal, registration: Registration) -> Periods | None:
    """Which of a person's processing-log records the caller may read: None for all of them (auditors,
    audit:read), else the periods in which the caller's municipality was the registration's work or
    residence municipality (its records, and those its own organisation wrote). Empty: none."""
    if principal.has_scope(Scope.AUDIT_READ):
        return None
    code = principal.municipality_code
    if principal.organisation_type != OrganisationType.MUNICIPALITY or not code:
        return []
    return [
        (p.valid_from, p.valid_to)
        for p in await all_periods(session, registration)
        if code in (p.work_municipality_code, p.residence_municipality_code)
    ]


@dataclass(frozen=True, slots=True)
class LogScope:
    registration_id: str
    within: Periods | None
    own_oin: str | None


async def check_may_read_log(session: AsyncSession, context: RequestContext, registration_id: str) -> LogScope:
    """Not found unless the registration exists and the caller may read (part of) its processing log:
    auditors all of it, a municipality the records of the periods it was concerned (also after the
    person moved on). Reading the log is itself logged (action log-read), against the registration."""
    principal = context.principal
    check_activity(context, "log-read")
    try:
        uuid.UUID(registration_id)
    except ValueError:
        raise problems.not_found("registration") from None
    registration = await repository.get_registration(session, registration_id)
    if registration is None:
        raise problems.not_found("registration")
    within = await log_scope(session, principal, registration)
    if within == []:
        raise problems.not_found("registration")
    await processing_log.record(session, context, principal, "log-read", [registration.id])
    return LogScope(registration.id, within, None if within is None else principal.organisation_oin)


async def processing_log_page(
    session: AsyncSession, scope: LogScope, after: int, page_size: int
) -> tuple[list[ProcessingLogRecord], bool]:
    """A page of a registration's processing log the caller may read, oldest first, and whether more
    follow (after check_may_read_log)."""
    rows = await repository.processing_log_records(
        session, scope.registration_id, after, page_size + 1, scope.within, scope.own_oin
    )
    return rows[:page_size], len(rows) > page_size


async def read_log_page(
    session: AsyncSession, context: RequestContext, registration_id: str | None, cursor: str | None, page_size: int
) -> tuple[list[ProcessingLogRecord], bool]:
    """A page of one registration's processing log for the caller (the list and the Logboek export):
    the input checked first, then the caller's right to read it (which is logged), then the page."""
    if registration_id is None:
        raise invalid_input([InvalidParam("registrationId", "a query needs a registration id", "required", "query")])
    after = cursor_value(cursor, "id", int) or 0
    scope = await check_may_read_log(session, context, registration_id)
    return await processing_log_page(session, scope, after, page_size)


def log_entry(record: ProcessingLogRecord) -> ProcessingLogEntry:
    return ProcessingLogEntry(
        registration_id=record.registration_id,
        occurred_at=record.occurred_at,
        action=record.action,
        activity=record.activity,
        purpose=processing_log.ACTIVITIES.get(record.activity, ""),
        organisation_oin=record.organisation_oin,
        client_id=record.client_id,
        trace_id=record.trace_id,
    )


# The data subject's rights (GDPR art. 15-18); docs/privacy.md.


async def export_subject(
    session: AsyncSession, context: RequestContext, bsn: str, vault: BsnVault
) -> SubjectAccessExport:
    """Everything about one person (art. 15) for the municipality concerned: the registrations of this
    BSN it may see (restricted ones included), each with its periods and its whole processing log.
    The export itself is logged (action export) and is part of the answer."""
    activity = check_activity(context, "export")
    rows = await repository.search_by_pseudonym(session, context.principal, vault.pseudonyms(bsn), activity)
    if not rows:
        raise problems.not_found("registration of this person that your municipality is concerned with")
    await processing_log.record(session, context, context.principal, "export", [r.id for r in rows])
    registrations = []
    for registration in rows:
        records: list[ProcessingLogRecord] = []
        after = 0
        while page := await repository.processing_log_records(session, registration.id, after, 1000):
            records += page
            after = page[-1].id
        registrations.append(
            SubjectRegistration(
                registration=to_read(registration, vault),
                periods=await all_periods(session, registration),
                processing_log=[log_entry(r) for r in records],
            )
        )
    return SubjectAccessExport(generated_at=datetime.now(UTC), registrations=registrations)


async def erase(
    session: AsyncSession, context: RequestContext, registration_id: str, request: ErasureRequest
) -> Registration:
    """Erasure (art. 17): the personal fields are emptied now, as anonymisation does; codes, dates,
    status and reasons stay, so statistics do not change. The processing log is kept."""
    activity = check_activity(context, "erase")
    registration = await get_visible(session, context.principal, registration_id, for_update=True, activity=activity)
    if registration.erased_at is not None or registration.anonymised_at is not None:
        raise errors.already_erased()
    now = datetime.now(UTC)
    for column in fields.PERSONAL_COLUMNS:
        setattr(registration, column, None)
    registration.anonymised_at = now
    registration.erased_at = now
    registration.erasure_reason = request.reason
    registration.updated_at = now
    await _flush_versioned(session, registration)
    await processing_log.record(session, context, context.principal, "erase", [registration.id])
    return registration


async def restrict(
    session: AsyncSession, context: RequestContext, registration_id: str, request: RestrictionRequest
) -> Registration:
    """Restriction (art. 18): the registration is kept and counted in statistics, but no longer shown or
    processed, except by the municipality concerned answering the person's request (activity
    lmx-subject-rights: read, search, correct, export, erase, lift)."""
    activity = check_activity(context, "restrict")
    registration = await get_visible(session, context.principal, registration_id, for_update=True, activity=activity)
    if registration.restricted_at is not None:
        raise errors.already_restricted()
    now = datetime.now(UTC)
    registration.restricted_at = now
    registration.restriction_reason = request.reason
    registration.updated_at = now
    await _flush_versioned(session, registration)
    await processing_log.record(session, context, context.principal, "restrict", [registration.id])
    return registration


async def lift_restriction(session: AsyncSession, context: RequestContext, registration_id: str) -> Registration:
    activity = check_activity(context, "lift-restriction")
    registration = await get_visible(session, context.principal, registration_id, for_update=True, activity=activity)
    if registration.restricted_at is None:
        raise errors.not_restricted()
    registration.restricted_at = None
    registration.restriction_reason = None
    registration.updated_at = datetime.now(UTC)
    await _flush_versioned(session, registration)
    await processing_log.record(session, context, context.principal, "lift-restriction", [registration.id])
    return registration


async def list_municipalities(
    session: AsyncSession, province_code: str | None, after: str | None, limit: int
) -> Sequence[Municipality]:
    return await repository.list_municipalities(session, province_code, after, limit)


async def get_municipality(session: AsyncSession, code: str) -> Municipality | None:
    return await repository.get_municipality(session, code)
