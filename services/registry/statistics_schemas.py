"""Statistics answers (lowerCamelCase JSON): every count is published through the disclosure layer
(lmx_common/disclosure.py): exact for the party it concerns, perturbed by the cell-key method for others."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from lmx_common.disclosure import DisclosedCount, DisclosureControl
from lmx_common.schemas import CamelModel as Camel
from lmx_common.schemas import examples

# Examples: Breda (GM0758) asks, so its own counts are exact and everybody else's perturbed.
CONTROL = {"method": "cell-key", "threshold": 5, "maximumDeviation": 2}
AS_OF = "2026-11-30T09:00:00Z"
PERIOD = {"name": "2026-Q3", "from": "2026-07-01", "to": "2026-09-30"}


def _count(count: int, exact: bool = False) -> dict[str, object]:
    return {"count": count, "exact": exact}


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

    model_config = ConfigDict(
        json_schema_extra=examples(
            {
                "disclosureControl": CONTROL,
                "asOf": AS_OF,
                "period": PERIOD,
                "items": [
                    {
                        "municipalityCode": "GM0758",
                        "municipalityName": "Breda",
                        "working": _count(412, True),
                        "residing": _count(388, True),
                        "arrivals": _count(57, True),
                        "departures": _count(3, True),
                    },
                    {
                        "municipalityCode": "GM1655",
                        "municipalityName": "Halderberge",
                        "working": _count(96),
                        "residing": _count(121),
                        "arrivals": _count(14),
                        "departures": _count(0),
                    },
                ],
            }
        )
    )

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

    model_config = ConfigDict(
        json_schema_extra=examples(
            {
                "disclosureControl": CONTROL,
                "asOf": AS_OF,
                "cells": [
                    {
                        "count": 240,
                        "exact": True,
                        "workMunicipalityCode": "GM0758",
                        "residenceMunicipalityCode": "GM0758",
                    },
                    {
                        "count": 5,
                        "exact": False,
                        "workMunicipalityCode": "GM1655",
                        "residenceMunicipalityCode": "GM0777",
                    },
                ],
                "workTotals": [
                    {"count": 412, "exact": True, "municipalityCode": "GM0758"},
                    {"count": 95, "exact": False, "municipalityCode": "GM1655"},
                ],
                "residenceTotals": [{"count": 388, "exact": True, "municipalityCode": "GM0758"}],
                "total": _count(1204),
            }
        )
    )

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

    model_config = ConfigDict(
        json_schema_extra=examples(
            {
                "disclosureControl": CONTROL,
                "asOf": AS_OF,
                "items": [
                    {"housingLocationId": "wb-gm0758-01", "municipalityCode": "GM0758", "residents": _count(38, True)},
                    {"housingLocationId": "wb-gm1655-02", "municipalityCode": "GM1655", "residents": _count(5)},
                ],
            }
        )
    )

    disclosure_control: DisclosureControl
    as_of: datetime
    items: list[HousingLocationFigures]


class EconomicLocationFigures(Camel):
    economic_location_id: str
    work_municipality_code: str
    working: DisclosedCount


class EconomicLocationStatistics(Camel):
    """Active migrants working at each economic location, per work municipality (published count above 0)."""

    model_config = ConfigDict(
        json_schema_extra=examples(
            {
                "disclosureControl": CONTROL,
                "asOf": AS_OF,
                "items": [
                    {
                        "economicLocationId": "wb-moerdijk-logistics-park",
                        "workMunicipalityCode": "GM1709",
                        "working": _count(311),
                    }
                ],
            }
        )
    )

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

    model_config = ConfigDict(
        json_schema_extra=examples(
            {
                "disclosureControl": CONTROL,
                "asOf": AS_OF,
                "period": PERIOD,
                "municipalityCode": None,
                "provinceCode": "PV30",
                "regionCode": None,
                "cells": [
                    {"count": 41, "exact": False, "reason": "contract-ended", "destination": "abroad"},
                    {"count": 7, "exact": False, "reason": "job-lost", "destination": "unknown"},
                ],
                "reasonTotals": [
                    {"count": 42, "exact": False, "label": "contract-ended"},
                    {"count": 9, "exact": False, "label": "job-lost"},
                ],
                "destinationTotals": [
                    {"count": 40, "exact": False, "label": "abroad"},
                    {"count": 8, "exact": False, "label": "unknown"},
                ],
                "total": _count(52),
            }
        )
    )

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
