"""Formats of the exchange's codes and numbers, ASCII only, for every service's bodies, paths and queries.

Python's ``\\d`` (and ``str.isdigit``) match any Unicode decimal digit: Arabic-Indic or fullwidth
digits passed as a KvK number, were stored, and broke a ``Location`` header
(latin-1) with a 500. Every pattern here spells digits ``[0-9]``; use these constants in
``Field(pattern=...)``, ``Path(pattern=...)`` and ``Query(pattern=...)`` rather than writing a new
pattern, and never ``\\d``. (pydantic matches patterns with the Rust engine, where ``$`` is the end
of the text, so no trailing newline slips through either.)
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from lmx_common.reference import is_municipality

KVK_NUMBER_PATTERN = r"^[0-9]{8}$"
MUNICIPALITY_CODE_PATTERN = r"^GM[0-9]{4}$"
PROVINCE_CODE_PATTERN = r"^PV[0-9]{2}$"
# A region's own code (lower-case letters, digits, hyphens) or a province code.
REGION_CODE_PATTERN = r"^[a-z0-9-]{2,50}$|^PV[0-9]{2}$"
POSTCODE_PATTERN = r"^[1-9][0-9]{3}[A-Z]{2}$"
LOCATION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

_ASCII_DIGITS = frozenset("0123456789")


def is_ascii_digits(value: str, length: int | None = None) -> bool:
    """Only the ASCII digits 0-9 (``str.isdigit`` also takes other scripts' digits)."""
    return bool(value) and (length is None or len(value) == length) and _ASCII_DIGITS.issuperset(value)


def is_kvk_number(value: str) -> bool:
    return is_ascii_digits(value, 8)


def known_municipality(code: str) -> str:
    """A municipality code of the current CBS list (after the pattern has checked its form)."""
    if not is_municipality(code):
        raise ValueError("not a municipality code of the current CBS list")
    return code


KvkNumber = Annotated[
    str, Field(pattern=KVK_NUMBER_PATTERN, examples=["81234567"], description="KvK number, 8 digits (0-9).")
]
MunicipalityCode = Annotated[
    str, Field(pattern=MUNICIPALITY_CODE_PATTERN, examples=["GM1655"]), AfterValidator(known_municipality)
]
ProvinceCode = Annotated[str, Field(pattern=PROVINCE_CODE_PATTERN, examples=["PV30"])]
RegionCode = Annotated[str, Field(pattern=REGION_CODE_PATTERN, examples=["west-brabant"])]
Postcode = Annotated[str, Field(pattern=POSTCODE_PATTERN, examples=["4731AB"])]
