"""Every query of the certification service. Flushes, never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import ColumnElement, String, and_, cast, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.auth import OrganisationType, Principal
from services.certification.models import (
    Certificate,
    CertificateStatusChange,
    Organisation,
    Report,
    ReportNote,
    Scheme,
)
from services.certification.rules import SEES_ALL_REPORTS


async def schemes(session: AsyncSession) -> Sequence[Scheme]:
    return (await session.execute(select(Scheme).order_by(Scheme.code))).scalars().all()


async def scheme_codes(session: AsyncSession) -> list[str]:
    return list((await session.execute(select(Scheme.code).order_by(Scheme.code))).scalars())


async def status_change(session: AsyncSession, change_id: int) -> CertificateStatusChange | None:
    return await session.get(CertificateStatusChange, change_id)


async def organisation(session: AsyncSession, kvk_number: str) -> Organisation | None:
    return await session.get(Organisation, kvk_number)


async def organisations(
    session: AsyncSession, after: str | None, limit: int, kind: str | None
) -> Sequence[Organisation]:
    query = select(Organisation).order_by(Organisation.kvk_number).limit(limit)
    if after is not None:
        query = query.where(Organisation.kvk_number > after)
    if kind is not None:  # kinds is a JSON list of fixed words; its text works on both dialects
        query = query.where(cast(Organisation.kinds, String).like(f'%"{kind}"%'))
    return (await session.execute(query)).scalars().all()


async def certificate(session: AsyncSession, certificate_id: str, *, for_update: bool = False) -> Certificate | None:
    query = select(Certificate).where(Certificate.id == certificate_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def certificates(
    session: AsyncSession,
    *,
    kvk_number: str | None = None,
    scheme: str | None = None,
    status: str | None = None,
    after: str | None = None,
    limit: int = 100,
) -> Sequence[Certificate]:
    query = select(Certificate).order_by(Certificate.id).limit(limit)
    if kvk_number is not None:
        query = query.where(Certificate.kvk_number == kvk_number)
    if scheme is not None:
        query = query.where(Certificate.scheme_code == scheme)
    if status is not None:
        query = query.where(Certificate.status == status)
    if after is not None:
        query = query.where(Certificate.id > after)
    return (await session.execute(query)).scalars().all()


async def organisation_certificates(session: AsyncSession, kvk_number: str) -> Sequence[Certificate]:
    """Newest first within each scheme: by status date, then creation."""
    query = (
        select(Certificate)
        .where(Certificate.kvk_number == kvk_number)
        .order_by(Certificate.scheme_code, Certificate.status_since.desc(), Certificate.created_at.desc())
    )
    return (await session.execute(query)).scalars().all()


async def status_changes(session: AsyncSession, certificate_id: str) -> Sequence[CertificateStatusChange]:
    query = (
        select(CertificateStatusChange)
        .where(CertificateStatusChange.certificate_id == certificate_id)
        .order_by(CertificateStatusChange.id)
    )
    return (await session.execute(query)).scalars().all()


async def expiring(session: AsyncSession, today: date, limit: int) -> Sequence[str]:
    """Ids of granted certificates whose last day of validity has passed."""
    query = (
        select(Certificate.id)
        .where(Certificate.status == "granted", Certificate.valid_until.is_not(None), Certificate.valid_until < today)
        .order_by(Certificate.valid_until, Certificate.id)
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


def visible_reports(principal: Principal) -> ColumnElement[bool]:
    """The SQL form of rules.may_see_report."""
    if principal.organisation_type in SEES_ALL_REPORTS:
        return ~false()
    own = Report.reporter_oin == principal.organisation_oin
    if principal.organisation_type == OrganisationType.MUNICIPALITY and principal.municipality_code:
        return or_(own, Report.municipality_code == principal.municipality_code)
    return and_(own)


async def report(session: AsyncSession, report_id: str, *, for_update: bool = False) -> Report | None:
    query = select(Report).where(Report.id == report_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def reports(
    session: AsyncSession,
    principal: Principal,
    *,
    kvk_number: str | None,
    status: str | None,
    municipality_code: str | None,
    after: str | None,
    limit: int,
) -> Sequence[Report]:
    query = select(Report).where(visible_reports(principal)).order_by(Report.id).limit(limit)
    if kvk_number is not None:
        query = query.where(Report.kvk_number == kvk_number)
    if status is not None:
        query = query.where(Report.status == status)
    if municipality_code is not None:
        query = query.where(Report.municipality_code == municipality_code)
    if after is not None:
        query = query.where(Report.id > after)
    return (await session.execute(query)).scalars().all()


async def report_notes(session: AsyncSession, report_id: str) -> Sequence[ReportNote]:
    query = select(ReportNote).where(ReportNote.report_id == report_id).order_by(ReportNote.id)
    return (await session.execute(query)).scalars().all()


async def report_counts(session: AsyncSession, kvk_number: str) -> Sequence[tuple[str, str, int, int]]:
    """(category, status, count, sum of the record keys) for the reports about the organisation, in SQL.

    The sum is not reduced modulo 2^32 here (cell_key does that): at most 2^31 reports fit in a BIGINT sum."""
    query = (
        select(Report.category, Report.status, func.count(), func.sum(Report.record_key))
        .where(Report.kvk_number == kvk_number)
        .group_by(Report.category, Report.status)
        .order_by(Report.category, Report.status)
    )
    return [(c, s, int(n), int(k)) for c, s, n, k in (await session.execute(query)).all()]
