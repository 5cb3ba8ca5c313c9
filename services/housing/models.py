from sqlalchemy import ForeignKey, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lmx_common.db import NAMING_CONVENTION
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


class RegionMember(Base):
    __tablename__ = "region_members"

    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code", ondelete="CASCADE"), primary_key=True)
    municipality_code: Mapped[str] = mapped_column(ForeignKey("municipalities.code"), primary_key=True)
