"""Reference facts copied into the project: municipalities and provinces (CBS, 1 January 2026) and
regions. Read from package files, never from outside the project."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

MUNICIPALITY_VINTAGE = "2026"


@dataclass(frozen=True)
class Municipality:
    code: str
    name: str
    province_code: str
    province_name: str


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    municipality_codes: tuple[str, ...]


def _rows(filename: str) -> list[dict[str, str]]:
    text = resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


@cache
def municipalities() -> dict[str, Municipality]:
    """All municipalities by CBS code."""
    rows = _rows(f"municipalities-{MUNICIPALITY_VINTAGE}.csv")
    return {r["code"]: Municipality(r["code"], r["name"], r["province_code"], r["province_name"]) for r in rows}


@cache
def provinces() -> dict[str, str]:
    """Province name by province code."""
    return {m.province_code: m.province_name for m in municipalities().values()}


@cache
def regions() -> dict[str, Region]:
    """Regions by code (West-Brabant), each a set of municipalities."""
    members: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for r in _rows("regions.csv"):
        members.setdefault(r["region_code"], []).append(r["municipality_code"])
        names[r["region_code"]] = r["region_name"]
    return {code: Region(code, names[code], tuple(codes)) for code, codes in members.items()}


def is_municipality(code: str) -> bool:
    return code in municipalities()


def is_province(code: str) -> bool:
    return code in provinces()
