from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from lmx_common.db import NAMING_CONVENTION
from lmx_common.reference.tables import MunicipalityColumns


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Municipality(MunicipalityColumns, Base):
    pass
