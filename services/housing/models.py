"""The housing service's tables. It stores locations, regions, keys and counts: never persons."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lmx_common.db import NAMING_CONVENTION, UtcDateTime
from lmx_common.reference.tables import MunicipalityColumns


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Municipality(MunicipalityColumns, Base):
    pass


class Region(Base):
    """A named set of municipalities (a cooperation region, or a province)."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # "region" | "province"
    # A member lags when its fulfilment is below this factor times the region's fulfilment.
    lagging_factor: Mapped[float] = mapped_column(Float, server_default=text("0.8"), default=0.8)


class RegionMember(Base):
    __tablename__ = "region_members"

    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code", ondelete="CASCADE"), primary_key=True)
    municipality_code: Mapped[str] = mapped_column(ForeignKey("municipalities.code"), primary_key=True)


class HousingLocation(Base):
    """A place where labour migrants live (or will live), managed by its municipality."""

    __tablename__ = "housing_locations"
    __table_args__ = (CheckConstraint("beds > 0", name="beds_positive"),)

    # The id registrations name in residence.housingLocationId.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    municipality_code: Mapped[str] = mapped_column(ForeignKey("municipalities.code"), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    postcode: Mapped[str] = mapped_column(String(6))
    house_number: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(20))
    form: Mapped[str] = mapped_column(String(20))
    beds: Mapped[int] = mapped_column(Integer)
    landlord_kvk_number: Mapped[str] = mapped_column(String(8), index=True)
    status: Mapped[str] = mapped_column(String(30), index=True)
    planned_on: Mapped[date | None] = mapped_column(Date)
    permit_granted_on: Mapped[date | None] = mapped_column(Date)
    construction_started_on: Mapped[date | None] = mapped_column(Date)
    operational_since: Mapped[date | None] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    expected_opening_on: Mapped[date | None] = mapped_column(Date)
    created_by_oin: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer)


class OccupancyReport(Base):
    __tablename__ = "occupancy_reports"
    __table_args__ = (
        UniqueConstraint("housing_location_id", "reported_on", name="uq_occupancy_reports_location_date"),
        CheckConstraint("occupied_beds >= 0", name="occupied_beds_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    housing_location_id: Mapped[str] = mapped_column(ForeignKey("housing_locations.id", ondelete="CASCADE"))
    reported_on: Mapped[date] = mapped_column(Date)
    occupied_beds: Mapped[int] = mapped_column(Integer)
    reported_by_oin: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class EconomicLocation(Base):
    """An economic location of regional importance; its workers are the region's joint task."""

    __tablename__ = "economic_locations"

    # The id registrations name in work.economicLocationId.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code", ondelete="CASCADE"), index=True)
    host_municipality_code: Mapped[str] = mapped_column(ForeignKey("municipalities.code"))
    created_by_oin: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer)


class DistributionKey(Base):
    """A member municipality's share of an economic location's workers (the keys sum to 1)."""

    __tablename__ = "distribution_keys"
    __table_args__ = (CheckConstraint("share >= 0 AND share <= 1", name="share_between_0_and_1"),)

    economic_location_id: Mapped[str] = mapped_column(
        ForeignKey("economic_locations.id", ondelete="CASCADE"), primary_key=True
    )
    municipality_code: Mapped[str] = mapped_column(ForeignKey("municipalities.code"), primary_key=True)
    share: Mapped[float] = mapped_column(Float)


class StatisticsSnapshot(Base):
    """The last answer the registry gave to one statistics query: served, marked stale, when it is down."""

    __tablename__ = "statistics_snapshots"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    as_of: Mapped[datetime] = mapped_column(UtcDateTime)
    fetched_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CertificateStanding(Base):
    """The last status the certification service reported for one certificate (from its events)."""

    __tablename__ = "certificate_standings"

    certificate_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kvk_number: Mapped[str] = mapped_column(String(8), index=True)
    scheme: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    effective_date: Mapped[date | None] = mapped_column(Date)
    event_id: Mapped[str] = mapped_column(String(100))
    event_time: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ProcessedEvent(Base):
    """Every consumed event's id, written in the same transaction as its effect."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(100))
    processed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FeedCursor(Base):
    """How far the housing service has read another service's event feed."""

    __tablename__ = "feed_cursors"

    feed: Mapped[str] = mapped_column(String(50), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(String(500))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
