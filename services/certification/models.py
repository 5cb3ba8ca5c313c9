from sqlalchemy import MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lmx_common.db import NAMING_CONVENTION


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
