"""The certification rules: organisations, certificates and their status machine, abuse reports.

Raises domain errors; knows no HTTP. Every change and the event it causes go into the caller's
session together (flush only).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import get_args

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from lmx_common import problems
from lmx_common.auth import OrganisationType, Principal
from lmx_common.disclosure import Disclosure, PTable, cell_key, new_record_key
from lmx_common.etag import check_if_match
from lmx_common.events import publish
from lmx_common.problems import InvalidParam
from lmx_common.scopes import Scope
from services.certification import errors, repository
from services.certification.events import (
    CERTIFICATE_STATUS_CHANGED,
    EVENTS,
    REPORT_CREATED,
    REPORT_STATUS_CHANGED,
)
from services.certification.models import Certificate, CertificateStatusChange, Organisation, Report, ReportNote
from services.certification.rules import (
    CERTIFICATE_TRANSITIONS,
    OPEN_REPORT_STATUSES,
    REPORT_TRANSITIONS,
    SEES_ALL_REPORTS,
    may_follow_up,
    may_see_report,
)
from services.certification.schemas import (
    CertificateCreate,
    OrganisationCreate,
    ReportCategory,
    ReportCreate,
    ReportNoteCreate,
    StatusChangeCreate,
)

SYSTEM_CLIENT = "lmx-certification-expiry"
LABOUR_SCHEME = "wtta-admission"
HOUSING_SCHEME = "snf-housing"


@dataclass(frozen=True)
class Actor:
    client_id: str
    organisation_oin: str | None
    organisation_type: str

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(principal.client_id, principal.organisation_oin, principal.organisation_type.value)


SYSTEM = Actor(SYSTEM_CLIENT, None, "system")


def today() -> date:
    return datetime.now(UTC).date()


def require_certifier(principal: Principal) -> None:
    if principal.organisation_type != OrganisationType.CERTIFIER or not principal.has_scope(Scope.CERTIFICATION_WRITE):
        raise problems.forbidden(
            "Only certifiers (organisation type certifier, scope certification:write) may do this."
        )


# Organisations.


async def create_organisation(session: AsyncSession, principal: Principal, body: OrganisationCreate) -> Organisation:
    require_certifier(principal)
    if await repository.organisation(session, body.kvk_number) is not None:
        raise errors.already_exists("organisation")
    row = Organisation(
        kvk_number=body.kvk_number,
        name=body.name,
        kinds=sorted(set(body.kinds)),
        created_by_oin=principal.organisation_oin,
        created_at=datetime.now(UTC),
    )
    session.add(row)
    await session.flush()
    return row


# Certificates.


async def create_certificate(session: AsyncSession, principal: Principal, body: CertificateCreate) -> Certificate:
    require_certifier(principal)
    params: list[InvalidParam] = []
    if await repository.organisation(session, body.kvk_number) is None:
        params.append(
            InvalidParam("kvkNumber", "No organisation with this KvK number; create it first.", "unknown", "body")
        )
    if body.valid_until is not None and body.valid_until < body.valid_from:
        params.append(InvalidParam("validUntil", "Must not be before validFrom.", "range", "body"))
    if body.housing_location_ids and body.scheme != HOUSING_SCHEME:
        params.append(
            InvalidParam("housingLocationIds", "Only an snf-housing certificate names locations.", "scheme", "body")
        )
    if params:
        raise problems.invalid(*params)
    now = datetime.now(UTC)
    row = Certificate(
        id=str(uuid.uuid4()),
        kvk_number=body.kvk_number,
        scheme_code=body.scheme,
        certificate_number=body.certificate_number,
        housing_location_ids=sorted(set(body.housing_location_ids)),
        valid_from=body.valid_from,
        valid_until=body.valid_until,
        status="applied",
        status_since=body.applied_on or today(),
        issuer_oin=principal.organisation_oin,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    await _record_change(session, row, None, "applied", body.reason, row.status_since, Actor.of(principal), now)
    return row


async def change_status(
    session: AsyncSession,
    principal: Principal,
    certificate_id: str,
    body: StatusChangeCreate,
    if_match: str | None = None,
) -> tuple[Certificate, CertificateStatusChange]:
    require_certifier(principal)
    row = await repository.certificate(session, certificate_id, for_update=True)
    if row is None:
        raise problems.not_found("certificate")
    check_if_match(if_match, row.version, required=False, what="certificate")
    if row.issuer_oin != principal.organisation_oin:
        raise problems.forbidden("Only the certifier that issued this certificate may change its status.")
    effective = body.effective_date or today()
    if effective < row.status_since:
        raise problems.invalid(
            InvalidParam(
                "effectiveDate", f"Must not be before the current status's date {row.status_since}.", "range", "body"
            )
        )
    try:
        change = await transition(session, row, body.status, body.reason, effective, Actor.of(principal))
    except StaleDataError as exc:
        raise problems.changed_concurrently("certificate") from exc
    return row, change


async def transition(
    session: AsyncSession, row: Certificate, new_status: str, reason: str, effective: date, actor: Actor
) -> CertificateStatusChange:
    """Move a certificate along the machine, append to its history and publish the event."""
    allowed = CERTIFICATE_TRANSITIONS[row.status]
    if new_status not in allowed:
        raise errors.transition_not_allowed("certificate", row.status, new_status, allowed)
    previous = row.status
    now = datetime.now(UTC)
    row.status = new_status
    row.status_since = effective
    row.updated_at = now
    change = await _record_change(session, row, previous, new_status, reason, effective, actor, now)
    await publish(
        session,
        EVENTS,
        type=CERTIFICATE_STATUS_CHANGED,
        subject=f"certificates/{row.id}",
        data={
            "certificateId": row.id,
            "kvkNumber": row.kvk_number,
            "scheme": row.scheme_code,
            "previousStatus": previous,
            "status": new_status,
            "effectiveDate": effective.isoformat(),
            "validUntil": row.valid_until.isoformat() if row.valid_until else None,
            "housingLocationIds": list(row.housing_location_ids),
            "changedBy": "system" if actor is SYSTEM else actor.organisation_type,
        },
    )
    return change


async def _record_change(
    session: AsyncSession,
    row: Certificate,
    previous: str | None,
    new_status: str,
    reason: str,
    effective: date,
    actor: Actor,
    now: datetime,
) -> CertificateStatusChange:
    change = CertificateStatusChange(
        certificate_id=row.id,
        from_status=previous,
        to_status=new_status,
        reason=reason,
        effective_date=effective,
        recorded_at=now,
        changed_by_client_id=actor.client_id,
        changed_by_oin=actor.organisation_oin,
        changed_by_type=actor.organisation_type,
    )
    session.add(change)
    await session.flush()
    return change


async def expire_due(session: AsyncSession, limit: int = 200) -> int:
    """Turn granted certificates past their last day into expired, one event each."""
    expired = 0
    for certificate_id in await repository.expiring(session, today(), limit):
        row = await repository.certificate(session, certificate_id, for_update=True)
        if row is None or row.status != "granted" or row.valid_until is None or row.valid_until >= today():
            continue  # changed meanwhile
        effective = max(row.valid_until + timedelta(days=1), row.status_since)
        await transition(session, row, "expired", "The validity period ended.", effective, SYSTEM)
        expired += 1
    return expired


@dataclass(frozen=True)
class SchemeStanding:
    scheme: str
    certificate: Certificate | None
    valid_today: bool


def standing(certificates: list[Certificate], schemes: list[str], on: date) -> list[SchemeStanding]:
    """Per scheme, the certificate that counts (a valid one first, else the latest)."""
    result = []
    for scheme in schemes:
        mine = [c for c in certificates if c.scheme_code == scheme]
        valid = [c for c in mine if is_valid_on(c, on)]
        chosen = valid[0] if valid else (mine[0] if mine else None)
        result.append(SchemeStanding(scheme, chosen, bool(valid)))
    return result


def is_valid_on(row: Certificate, on: date) -> bool:
    return (
        row.status == "granted"
        and row.valid_from <= on
        and (row.valid_until is None or on <= row.valid_until)
        and row.status_since <= on
    )


# Reports.


async def create_report(session: AsyncSession, principal: Principal, body: ReportCreate) -> Report:
    if not principal.has_scope(Scope.REPORTS_WRITE):
        raise problems.forbidden("Filing a report needs the reports:write scope.")
    if body.kvk_number is None and body.housing_location_id is None:
        raise problems.invalid(
            InvalidParam("kvkNumber", "Name an organisation, a housing location, or both.", "required", "body"),
            InvalidParam("housingLocationId", "Name an organisation, a housing location, or both.", "required", "body"),
        )
    now = datetime.now(UTC)
    row = Report(
        id=str(uuid.uuid4()),
        kvk_number=body.kvk_number,
        housing_location_id=body.housing_location_id,
        municipality_code=body.municipality_code,
        category=body.category,
        description=body.description,
        observed_on=body.observed_on,
        status="received",
        reporter_oin=principal.organisation_oin,
        reporter_client_id=principal.client_id,
        reporter_type=principal.organisation_type.value,
        created_at=now,
        updated_at=now,
        record_key=new_record_key(),
    )
    session.add(row)
    await session.flush()
    await publish(
        session,
        EVENTS,
        type=REPORT_CREATED,
        subject=f"reports/{row.id}",
        data={
            "reportId": row.id,
            "kvkNumber": row.kvk_number,
            "housingLocationId": row.housing_location_id,
            "municipalityCode": row.municipality_code,
            "category": row.category,
            "status": row.status,
        },
    )
    return row


async def visible_report(
    session: AsyncSession, principal: Principal, report_id: str, *, for_update: bool = False
) -> Report:
    if not principal.has_any_scope(Scope.REPORTS_READ, Scope.REPORTS_WRITE):
        raise problems.forbidden("Reading reports needs the reports:read or reports:write scope.")
    row = await repository.report(session, report_id, for_update=for_update)
    if row is None or not may_see_report(principal, row.municipality_code, row.reporter_oin):
        raise problems.not_found("report")
    return row


async def add_note(
    session: AsyncSession, principal: Principal, report_id: str, body: ReportNoteCreate, if_match: str | None = None
) -> Report:
    row = await visible_report(session, principal, report_id, for_update=True)
    if not principal.has_scope(Scope.REPORTS_WRITE) or not may_follow_up(principal, row.municipality_code):
        raise problems.forbidden("Only the inspectorate, certifiers and the municipality concerned follow reports up.")
    check_if_match(if_match, row.version, required=False, what="report")
    previous = row.status
    if body.status is not None and body.status != previous:
        allowed = REPORT_TRANSITIONS[previous]
        if body.status not in allowed:
            raise errors.transition_not_allowed("report", previous, body.status, allowed)
    moved = body.status is not None and body.status != previous
    now = datetime.now(UTC)
    noted_on = body.date or today()
    session.add(
        ReportNote(
            report_id=row.id,
            from_status=previous if moved else None,
            to_status=body.status if moved else None,
            note=body.note,
            noted_on=noted_on,
            recorded_at=now,
            by_oin=principal.organisation_oin,
            by_client_id=principal.client_id,
            by_type=principal.organisation_type.value,
        )
    )
    row.updated_at = now
    if moved and body.status is not None:
        row.status = body.status
    try:
        await session.flush()
    except StaleDataError as exc:
        raise problems.changed_concurrently("report") from exc
    if moved:
        await publish(
            session,
            EVENTS,
            type=REPORT_STATUS_CHANGED,
            subject=f"reports/{row.id}",
            data={
                "reportId": row.id,
                "kvkNumber": row.kvk_number,
                "municipalityCode": row.municipality_code,
                "previousStatus": previous,
                "status": row.status,
                "date": noted_on.isoformat(),
            },
        )
    return row


Cell = tuple[int, int]  # (true count, cell key)


@dataclass(frozen=True)
class Summary:
    """The true counts of the reports about an organisation, each with its cell key."""

    total: Cell
    open: Cell
    by_category: dict[str, Cell]  # every category, zero ones included
    by_status: dict[str, Cell]  # every status, zero ones included


def _union(cells: list[Cell]) -> Cell:
    return sum(n for n, _ in cells), cell_key(key for _, key in cells)


async def report_summary(session: AsyncSession, kvk_number: str) -> Summary:
    rows = await repository.report_counts(session, kvk_number)  # (category, status, count, sum of keys)
    categories = set(get_args(ReportCategory)) | {c for c, _, _, _ in rows}
    statuses = set(REPORT_TRANSITIONS) | {s for _, s, _, _ in rows}
    by_category = {c: _union([(n, k) for rc, _, n, k in rows if rc == c]) for c in sorted(categories)}
    by_status = {s: _union([(n, k) for _, rs, n, k in rows if rs == s]) for s in sorted(statuses)}
    total = _union([(n, k) for _, _, n, k in rows])
    open_ = _union([by_status[s] for s in OPEN_REPORT_STATUSES])
    return Summary(total, open_, by_category, by_status)


def summary_disclosure(principal: Principal, table: PTable) -> Disclosure:
    """Exact for those who may read every report about an organisation themselves (the inspectorate and
    certifiers, SEES_ALL_REPORTS); perturbed by the cell-key method for every other caller, including a
    municipality, which sees only some of them (its own and those it filed)."""
    return Disclosure(table, exact=principal.organisation_type in SEES_ALL_REPORTS)
