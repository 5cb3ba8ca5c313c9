"""Field rules for registrations: BSN (eleven-test), KvK, municipality codes, postcode, nationality, dates."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

import iso3166
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.nl import bsn as stdnum_bsn
from stdnum.nl import postcode as stdnum_postcode

from lmx_common.problems import InvalidParam
from lmx_common.reference import is_municipality
from lmx_common.validation import is_ascii_digits, is_kvk_number

if TYPE_CHECKING:
    from services.registry.schemas import RegistrationCreate

MIN_WORKING_AGE = 15
MAX_WORKING_AGE = 75
MAX_ARRIVAL_AHEAD = timedelta(days=90)
EARLIEST_DATE = date(1990, 1, 1)


def bsn(value: str) -> str:
    """A BSN: 9 digits (0-9) passing the eleven-test (python-stdnum)."""
    # stdnum folds fullwidth digits to ASCII first; we refuse other scripts' digits instead.
    if not is_ascii_digits(value, 9):
        raise ValueError("not a valid BSN (9 digits, eleven-test)")
    try:
        return str(stdnum_bsn.validate(value))
    except StdnumError as exc:
        raise ValueError("not a valid BSN (9 digits, eleven-test)") from exc


def kvk_number(value: str) -> str:
    if not is_kvk_number(value):  # 0-9 only: str.isdigit would take other scripts' digits
        raise ValueError("a KvK number has 8 digits")
    return value


def municipality_code(value: str) -> str:
    if not is_municipality(value):
        raise ValueError(f"{value} is not a municipality code in the current CBS list")
    return value


def postcode(value: str) -> str:
    """A Dutch postcode, answered as 1234AB."""
    if not value.isascii():  # stdnum folds fullwidth digits to ASCII; we refuse them
        raise ValueError("not a Dutch postcode (1234AB)")
    try:
        return str(stdnum_postcode.validate(value)).replace(" ", "")
    except StdnumError as exc:
        raise ValueError("not a Dutch postcode (1234AB)") from exc


def country_code(value: str) -> str:
    if value not in iso3166.countries_by_alpha2:
        raise ValueError("not an ISO 3166-1 alpha-2 country code")
    return value


def date_of_birth(value: date) -> date:
    if value >= date.today():
        raise ValueError("a date of birth lies in the past")
    if value < date.today() - timedelta(days=365 * 100):
        raise ValueError("a date of birth more than 100 years ago is not plausible")
    return value


def arrival_date(value: date) -> date:
    if value > date.today() + MAX_ARRIVAL_AHEAD:
        raise ValueError("an arrival date may lie at most 90 days ahead")
    if value < EARLIEST_DATE:
        raise ValueError("an arrival date before 1990 is not plausible")
    return value


def age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def cross_field_problems(body: RegistrationCreate) -> list[InvalidParam]:
    """Rules that relate fields; reported together once every field is valid on its own."""
    problems = []
    age = age_on(body.person.date_of_birth, body.arrival_date)
    if not MIN_WORKING_AGE <= age <= MAX_WORKING_AGE:
        problems.append(
            InvalidParam(
                "person.dateOfBirth",
                f"age at arrival is {age}; working age is {MIN_WORKING_AGE}-{MAX_WORKING_AGE}",
                "implausible",
                "body",
            )
        )
    if body.expected_end_date is not None and body.expected_end_date <= body.arrival_date:
        problems.append(InvalidParam("expectedEndDate", "must lie after the arrival date", "implausible", "body"))
    if body.work.start_date is not None and body.work.start_date < EARLIEST_DATE:
        problems.append(
            InvalidParam("work.startDate", "a start date before 1990 is not plausible", "implausible", "body")
        )
    return problems
