"""The registry's tables: registrations, the processing log, idempotency keys, municipalities."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, Integer, MetaData, SmallInteger, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lmx_common.db import NAMING_CONVENTION, UtcDateTime
from lmx_common.disclosure import new_record_key
from lmx_common.events import DeliveryColumns, FeedStateColumns, OutboxColumns, SubscriptionColumns
from lmx_common.idempotency import IdempotencyKeyColumns
from lmx_common.reference.tables import MunicipalityColumns


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Municipality(MunicipalityColumns, Base):
    pass


class Registration(Base):
    """One labour migrant's registration. Personal fields are emptied on anonymisation."""

    __tablename__ = "registrations"
    __table_args__ = (
        Index("ix_registrations_status_work", "status", "work_municipality_code"),
        Index("ix_registrations_status_residence", "status", "residence_municipality_code"),
        Index("ix_registrations_work_residence", "work_municipality_code", "residence_municipality_code"),
        Index("ix_registrations_housing_location", "housing_location_id"),
        # The economic-location statistics (the fair share's pools) read only these three columns.
        Index(
            "ix_registrations_active_economic_location",
            "economic_location_id",
            "work_municipality_code",
            "record_key",
            postgresql_where=text("status = 'active' AND economic_location_id IS NOT NULL"),
            sqlite_where=text("status = 'active' AND economic_location_id IS NOT NULL"),
        ),
        Index("ix_registrations_departure_date", "departure_date"),
        Index("ix_registrations_arrival_date", "arrival_date"),
        # One active registration per person: the check in the service answers 409, this index makes
        # sure two concurrent requests cannot both pass it.
        Index(
            "uq_registrations_active_bsn",
            "bsn_pseudonym",
            unique=True,
            postgresql_where=text("status = 'active' AND bsn_pseudonym IS NOT NULL"),
            sqlite_where=text("status = 'active' AND bsn_pseudonym IS NOT NULL"),
        ),
    )

    # Every ORM update says "WHERE version = <the version read>" (version_id_col, at the end): two
    # concurrent changes cannot both win, on SQLite (which ignores SELECT ... FOR UPDATE) as on PostgreSQL.
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # Person. The BSN is kept only as a keyed pseudonym and an encrypted value.
    bsn_pseudonym: Mapped[str | None] = mapped_column(String(64), index=True)
    bsn_encrypted: Mapped[str | None] = mapped_column(Text)
    given_names: Mapped[str | None] = mapped_column(String(200))
    surname: Mapped[str | None] = mapped_column(String(200))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    nationality: Mapped[str | None] = mapped_column(String(2))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    registration_type: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20))
    # Residence.
    residence_municipality_code: Mapped[str] = mapped_column(String(6))
    residence_postcode: Mapped[str | None] = mapped_column(String(6))
    residence_house_number: Mapped[str | None] = mapped_column(String(12))
    housing_location_id: Mapped[str | None] = mapped_column(String(64))
    # Work.
    work_municipality_code: Mapped[str] = mapped_column(String(6))
    employer_kvk_number: Mapped[str] = mapped_column(String(8))
    agency_kvk_number: Mapped[str | None] = mapped_column(String(8))
    economic_location_id: Mapped[str | None] = mapped_column(String(64))
    work_start_date: Mapped[date | None] = mapped_column(Date)
    arrival_date: Mapped[date] = mapped_column(Date)
    expected_end_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10))
    departure_date: Mapped[date | None] = mapped_column(Date)
    departure_reason: Mapped[str | None] = mapped_column(String(20))
    departure_destination_type: Mapped[str | None] = mapped_column(String(20))
    departure_destination_code: Mapped[str | None] = mapped_column(String(6))
    # Who registered it (the information point or municipality) and bookkeeping.
    created_by_oin: Mapped[str] = mapped_column(String(20), index=True)
    created_by_client_id: Mapped[str] = mapped_column(String(100))
    created_by_type: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer)
    # The record key of the cell-key method (lmx_common/disclosure.py): random, fixed at creation, never
    # shown or changed; every statistics count is perturbed by the sum of its records' keys.
    record_key: Mapped[int] = mapped_column(BigInteger, default=new_record_key)
    anonymised_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # How far an anonymised registration's values are generalised (services/registry/retention.py).
    anonymisation_level: Mapped[str | None] = mapped_column(String(10))
    # The data subject's rights (docs/privacy.md): restriction (art. 18) and erasure (art. 17).
    restricted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    restriction_reason: Mapped[str | None] = mapped_column(String(40))
    erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    erasure_reason: Mapped[str | None] = mapped_column(String(40))

    __mapper_args__ = {"version_id_col": version}


class RegistrationPeriod(Base):
    """A period that ended in which a registration had these work and residence municipalities: what
    lets a municipality that was concerned keep reading the processing log of its period. The current
    period runs from the last row's valid_to (or the registration's created_at) until now."""

    __tablename__ = "registration_periods"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    registration_id: Mapped[str] = mapped_column(String(36), index=True)
    work_municipality_code: Mapped[str] = mapped_column(String(6))
    residence_municipality_code: Mapped[str] = mapped_column(String(6))
    valid_from: Mapped[datetime] = mapped_column(UtcDateTime)
    valid_to: Mapped[datetime] = mapped_column(UtcDateTime)


class RegistrationActiveCount(Base):
    """Active registrations per (work, residence) municipality pair. Kept exact by database triggers
    in every writing transaction (migration rg0005, ADR 0017); the application only reads it."""

    __tablename__ = "registration_active_counts"

    work_municipality_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    residence_municipality_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    active: Mapped[int] = mapped_column(Integer)
    # The sum of the record keys of those active registrations (not reduced: the cell key is it mod 2^32).
    key_sum: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class ProcessingLogRecord(Base):
    """Logboek Dataverwerkingen: one record per data subject per processing, written in the same
    transaction as the processing itself.

    ``seq``, ``prev_hash`` and ``hash`` are empty until the sealer (services/registry/audit.py, ADR
    0023) takes the committed record into the hash chain; nothing on the request path hashes."""

    __tablename__ = "processing_log"
    __table_args__ = (
        # Partial: a record is inserted with no entry here (only in the small unsealed index below).
        Index(
            "uq_processing_log_seq",
            "seq",
            unique=True,
            postgresql_where=text("seq IS NOT NULL"),
            sqlite_where=text("seq IS NOT NULL"),
        ),
        # The sealer's "unsealed, oldest first": small, as records are sealed within seconds.
        Index(
            "ix_processing_log_unsealed",
            "id",
            postgresql_where=text("seq IS NULL"),
            sqlite_where=text("seq IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    registration_id: Mapped[str] = mapped_column(String(36), index=True)
    trace_id: Mapped[str] = mapped_column(String(32))
    transaction_id: Mapped[str | None] = mapped_column(String(128))
    activity: Mapped[str] = mapped_column(String(60))
    action: Mapped[str] = mapped_column(String(20))
    organisation_oin: Mapped[str] = mapped_column(String(20))
    client_id: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)  # the processing's end (end_time)
    # Logboek Dataverwerkingen (empty in records written before rg0101): this request's span in the
    # registry, the span that called it (the gateway's), the calling organisation's own span, the
    # status (1 OK: a failed request leaves no record) and when the registry began the request.
    span_id: Mapped[str | None] = mapped_column(String(16))
    parent_span_id: Mapped[str | None] = mapped_column(String(16))
    foreign_span_id: Mapped[str | None] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The hash chain, set by the sealer: position in commit order, the previous record's hash, and
    # SHA-256(prev_hash || canonical record).
    seq: Mapped[int | None] = mapped_column(BigInteger)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class ProcessingLogChain(Base):
    """The single row (id 1) of the hash chain's head: the sealer's lock (ADR 0023, as ADR 0010)."""

    __tablename__ = "processing_log_chain"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    head_hash: Mapped[str] = mapped_column(String(64))
    checkpoint_seq: Mapped[int] = mapped_column(BigInteger)
    checkpoint_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ProcessingLogCheckpoint(Base):
    """A signed tree head: the chain's head hash after ``seq`` records, signed (Ed25519) by the registry."""

    __tablename__ = "processing_log_checkpoints"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    head_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)


class IdempotencyKey(IdempotencyKeyColumns, Base):
    """A creating request's Idempotency-Key (docs/decisions/0014)."""


class OutboxEvent(OutboxColumns, Base):
    pass


class FeedState(FeedStateColumns, Base):
    pass


class Subscription(SubscriptionColumns, Base):
    pass


class Delivery(DeliveryColumns, Base):
    pass
