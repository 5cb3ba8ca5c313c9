"""The certification service's tables: schemes, organisations, certificates with their history,
abuse reports with their follow-up notes, and the event exchange's tables."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lmx_common.db import NAMING_CONVENTION, UtcDateTime
from lmx_common.events import (
    DeliveryColumns,
    FeedStateColumns,
    OutboxColumns,
    SubscriptionColumns,
)
from lmx_common.events.tables import BigId
from lmx_common.idempotency import IdempotencyKeyColumns


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Scheme(Base):
    """A certification scheme (reference data)."""

    __tablename__ = "schemes"

    code: Mapped[str] = mapped_column(String(30), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(100))
    subject_kind: Mapped[str] = mapped_column(String(30))
    permits: Mapped[str] = mapped_column(Text)


class Organisation(Base):
    """An agency, employer or landlord, by KvK number (a business, not a person)."""

    __tablename__ = "organisations"

    kvk_number: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kinds: Mapped[list[str]] = mapped_column(JSON)
    created_by_oin: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Certificate(Base):
    """One certificate of one organisation under one scheme; ``status`` is the current state."""

    __tablename__ = "certificates"
    __table_args__ = (Index("ix_certificates_kvk_scheme", "kvk_number", "scheme_code"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kvk_number: Mapped[str] = mapped_column(ForeignKey("organisations.kvk_number"))
    scheme_code: Mapped[str] = mapped_column(ForeignKey("schemes.code"))
    certificate_number: Mapped[str | None] = mapped_column(String(50))
    housing_location_ids: Mapped[list[str]] = mapped_column(JSON)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), index=True)
    status_since: Mapped[date] = mapped_column(Date)
    issuer_oin: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer)

    # Every UPDATE checks and bumps the version, so a concurrent change fails instead of being
    # lost (SQLite has no SELECT ... FOR UPDATE). The version is also the ETag.
    __mapper_args__ = {"version_id_col": version}


class CertificateStatusChange(Base):
    """Append-only history: every status a certificate had, who set it, when and why."""

    __tablename__ = "certificate_status_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    certificate_id: Mapped[str] = mapped_column(ForeignKey("certificates.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(1000))
    effective_date: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    changed_by_client_id: Mapped[str] = mapped_column(String(100))
    changed_by_oin: Mapped[str | None] = mapped_column(String(20))
    changed_by_type: Mapped[str] = mapped_column(String(30))  # an organisation type, or "system"


class Report(Base):
    """An abuse report (melding misstand). ``description`` may hold personal data: never logged."""

    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_kvk_number", "kvk_number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kvk_number: Mapped[str | None] = mapped_column(String(8))
    housing_location_id: Mapped[str | None] = mapped_column(String(64))
    municipality_code: Mapped[str] = mapped_column(String(6), index=True)
    category: Mapped[str] = mapped_column(String(30))
    description: Mapped[str] = mapped_column(Text)
    observed_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    reporter_oin: Mapped[str] = mapped_column(String(20), index=True)
    reporter_client_id: Mapped[str] = mapped_column(String(100))
    reporter_type: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer)
    # The cell-key method's record key (lmx_common/disclosure.py): random, fixed at creation, never shown.
    record_key: Mapped[int] = mapped_column(BigInteger)

    __mapper_args__ = {"version_id_col": version}


class ReportNote(Base):
    """A dated follow-up note, with the status change it made if any; append-only."""

    __tablename__ = "report_notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text)
    noted_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    by_oin: Mapped[str] = mapped_column(String(20))
    by_client_id: Mapped[str] = mapped_column(String(100))
    by_type: Mapped[str] = mapped_column(String(30))


class IdempotencyKey(IdempotencyKeyColumns, Base):
    """A client's Idempotency-Key (docs/decisions/0014); expired keys are found by created_at."""

    __table_args__ = (Index("ix_idempotency_keys_created_at", "created_at"),)


class OutboxEvent(OutboxColumns, Base):
    pass


class FeedState(FeedStateColumns, Base):
    pass


class Subscription(SubscriptionColumns, Base):
    pass


class Delivery(DeliveryColumns, Base):
    pass
