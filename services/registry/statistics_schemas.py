"""Statistics answers (lowerCamelCase JSON): every count may be suppressed (null, suppressed=true)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import ConfigDict
from pydantic.alias_generators import to_camel

from lmx_common.schemas import CamelModel as Camel


class Count(Camel):
    """A count, or null with suppressed=true when it is too small to publish to this caller."""

    count: int | None
    suppressed: bool


class Period(Camel):
    from_: date
    to: date

    model_config = ConfigDict(
        alias_generator=lambda name: "from" if name == "from_" else to_camel(name), populate_by_name=True
    )


class MunicipalityFigures(Camel):
    municipality_code: str
    municipality_name: str
    working: Count
    residing: Count
    arrivals: Count
    departures: Count


class MunicipalityStatistics(Camel):
    """Per municipality: active migrants working and residing there, arrivals and departures in a period."""

    threshold: int
    as_of: datetime
    period: Period
    items: list[MunicipalityFigures]


class WorkResidenceCell(Camel):
    work_municipality_code: str
    residence_municipality_code: str
    count: int | None
    suppressed: bool


class MunicipalityCount(Camel):
    municipality_code: str
    count: int | None
    suppressed: bool


class WorkResidenceStatistics(Camel):
    """Where the people who work in a municipality live: non-zero cells with row and column totals."""

    threshold: int
    as_of: datetime
    cells: list[WorkResidenceCell]
    work_totals: list[MunicipalityCount]
    residence_totals: list[MunicipalityCount]
    total: Count


class HousingLocationFigures(Camel):
    housing_location_id: str
    municipality_code: str
    residents: Count


class HousingLocationStatistics(Camel):
    """Active residents per housing location."""

    threshold: int
    as_of: datetime
    items: list[HousingLocationFigures]


class EconomicLocationFigures(Camel):
    economic_location_id: str
    work_municipality_code: str
    working: Count


class EconomicLocationStatistics(Camel):
    """Active migrants working at each economic location, per work municipality."""

    threshold: int
    as_of: datetime
    items: list[EconomicLocationFigures]


class DepartureCell(Camel):
    reason: str
    destination: str
    count: int | None
    suppressed: bool


class LabelCount(Camel):
    label: str
    count: int | None
    suppressed: bool


class DepartureStatistics(Camel):
    """Departures in a period by reason and destination (municipality, abroad, unknown), with totals."""

    threshold: int
    as_of: datetime
    period: Period
    municipality_code: str | None
    cells: list[DepartureCell]
    reason_totals: list[LabelCount]
    destination_totals: list[LabelCount]
    total: Count
