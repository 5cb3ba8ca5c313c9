"""Statistics answers (lowerCamelCase JSON): every count is published through the disclosure layer
(lmx_common/disclosure.py): exact for the party it concerns, perturbed by the cell-key method for others."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from lmx_common.disclosure import DisclosedCount, DisclosureControl
from lmx_common.schemas import CamelModel as Camel


class Period(Camel):
    """A calendar year, quarter or month: outsiders get fixed periods only (docs/privacy.md)."""

    name: str = Field(description="The period asked for: `2026`, `2026-Q3` or `2026-07`.")
    from_: date
    to: date

    model_config = ConfigDict(
        alias_generator=lambda name: "from" if name == "from_" else to_camel(name), populate_by_name=True
    )


class MunicipalityFigures(Camel):
    municipality_code: str
    municipality_name: str
    working: DisclosedCount
    residing: DisclosedCount
    arrivals: DisclosedCount
    departures: DisclosedCount


class MunicipalityStatistics(Camel):
    """Per municipality: active migrants working and residing there, arrivals and departures in a period."""

    disclosure_control: DisclosureControl
    as_of: datetime
    period: Period
    items: list[MunicipalityFigures]


class WorkResidenceCell(DisclosedCount):
    work_municipality_code: str
    residence_municipality_code: str


class MunicipalityCount(DisclosedCount):
    municipality_code: str


class WorkResidenceStatistics(Camel):
    """Where the people who work in a municipality live: the cells with a published count above 0, with
    row (work) and column (residence) totals and the grand total, each perturbed on its own."""

    disclosure_control: DisclosureControl
    as_of: datetime
    cells: list[WorkResidenceCell]
    work_totals: list[MunicipalityCount]
    residence_totals: list[MunicipalityCount]
    total: DisclosedCount


class HousingLocationFigures(Camel):
    housing_location_id: str
    municipality_code: str
    residents: DisclosedCount


class HousingLocationStatistics(Camel):
    """Active residents per housing location (locations with a published count above 0)."""

    disclosure_control: DisclosureControl
    as_of: datetime
    items: list[HousingLocationFigures]


class EconomicLocationFigures(Camel):
    economic_location_id: str
    work_municipality_code: str
    working: DisclosedCount


class EconomicLocationStatistics(Camel):
    """Active migrants working at each economic location, per work municipality (published count above 0)."""

    disclosure_control: DisclosureControl
    as_of: datetime
    items: list[EconomicLocationFigures]


class DepartureCell(DisclosedCount):
    reason: str
    destination: str


class LabelCount(DisclosedCount):
    label: str


class DepartureStatistics(Camel):
    """Departures in a period by reason and destination (municipality, abroad, unknown), with totals."""

    disclosure_control: DisclosureControl
    as_of: datetime
    period: Period
    municipality_code: str | None
    province_code: str | None
    region_code: str | None
    cells: list[DepartureCell]
    reason_totals: list[LabelCount]
    destination_totals: list[LabelCount]
    total: DisclosedCount
