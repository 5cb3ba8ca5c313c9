"""The bulk import's fast path: a create body in its plain, canonical form, checked without pydantic.

:func:`plain_row` answers the column values of a registration when the parsed document is a valid
create body *as a client normally sends it* (lowerCamelCase keys, strings, ISO dates, a postcode
as ``1234AB``, ASCII digits), and ``None`` for anything else. ``None`` does not mean "invalid": the
caller then runs the full pydantic model (:class:`~services.registry.schemas.RegistrationCreate`)
and :func:`~services.registry.validation.cross_field_problems`, which accept what they accept
(snake_case keys, ``1234 ab``, …) and word every error. So this module may be stricter than the
model, never more lenient, and must give the same values the model gives; the test
``tests/test_registry_bulk_fast_path.py`` holds it to that.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import iso3166

from lmx_common.auth import OrganisationType, Principal
from lmx_common.reference import municipalities
from services.registry import fields, validation
from services.registry.visibility import REGISTRARS

# The keys of a create body and its sub-objects, from the field map.
_BODY_KEYS = fields.keys_under()
_PERSON_KEYS = fields.keys_under("person")
_CONTACT_KEYS = fields.keys_under("person.contact")
_RESIDENCE_KEYS = fields.keys_under("residence")
_WORK_KEYS = fields.keys_under("work")
_REGISTRATION_TYPES = frozenset({"rni", "brp-resident", "none"})
_CHANNELS = frozenset({"digital", "desk", "mobile-desk"})
_POSTCODE_EXCLUDED = frozenset({"SA", "SD", "SS"})  # python-stdnum's list

# The schema's patterns, matched in full; ASCII is required before any of them is tried, so that
# Python's and pydantic-core's (Rust) regex dialects cannot differ on what \s or a class means.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}").fullmatch
_DIGITS_9 = re.compile(r"[0-9]{9}").fullmatch
_DIGITS_8 = re.compile(r"[0-9]{8}").fullmatch
_POSTCODE = re.compile(r"[1-9][0-9]{3}[A-Z]{2}").fullmatch
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+").fullmatch
_PHONE = re.compile(r"\+?[0-9 ()-]{6,20}").fullmatch

# The fields this module's code checks one by one; the others are optional text fields checked by
# their pattern in the field map (fields.Field.pattern), in the sub-object that holds them.
_CHECKED_HERE = frozenset(
    {
        "person.bsn",
        "person.givenNames",
        "person.surname",
        "person.dateOfBirth",
        "person.nationality",
        "person.contact.email",
        "person.contact.phone",
        "registrationType",
        "channel",
        "residence.municipalityCode",
        "residence.postcode",
        "work.municipalityCode",
        "work.employerKvkNumber",
        "work.startDate",
        "arrivalDate",
        "expectedEndDate",
    }
)
_GROUPS = ("residence", "work")  # where a pattern-checked field may stand
_PATTERN_CHECKED: dict[str, tuple[tuple[str, str, Callable[[str], object]], ...]] = {
    group: tuple(
        (f.keys[-1], f.column, re.compile(f.pattern.removeprefix("^").removesuffix("$")).fullmatch)
        for f in fields.FIELDS
        if f.pattern is not None and f.path not in _CHECKED_HERE and ".".join(f.keys[:-1]) == group
    )
    for group in _GROUPS
}
# A field the fast path cannot check (no code here, no pattern, or a pattern outside _GROUPS)
# turns it off: every line then goes through the pydantic model. tests/test_registry_fields.py
# requires this to be empty.
UNCHECKED = tuple(
    f.path
    for f in fields.FIELDS
    if f.path not in _CHECKED_HERE
    and not any(f.column == column for checks in _PATTERN_CHECKED.values() for _, column, _ in checks)
)


class Checker:
    """Checks for one request: the day's date limits and what the caller may register are fixed once."""

    def __init__(self, principal: Principal, today: date) -> None:
        self.today = today
        self.oldest_birth = today - timedelta(days=365 * 100)
        self.latest_arrival = today + validation.MAX_ARRIVAL_AHEAD
        # visibility.check_may_register: registrars only, and a municipality only its own migrants.
        self.may_register = principal.organisation_type in REGISTRARS and not UNCHECKED
        self.only_municipality = principal.organisation_type == OrganisationType.MUNICIPALITY
        self.own_municipality = principal.municipality_code
        self.municipality_codes = municipalities().keys()
        self.countries = iso3166.countries_by_alpha2

    def plain_row(self, document: Any) -> dict[str, Any] | None:
        """The registration's fields (BSN still in clear, under "bsn") or None: see the module doc."""
        if not self.may_register or type(document) is not dict or not document.keys() <= _BODY_KEYS:
            return None
        person = document.get("person")
        residence = document.get("residence")
        work = document.get("work")
        if type(person) is not dict or type(residence) is not dict or type(work) is not dict:
            return None
        if not (person.keys() <= _PERSON_KEYS and residence.keys() <= _RESIDENCE_KEYS and work.keys() <= _WORK_KEYS):
            return None

        registration_type = document.get("registrationType")
        channel = document.get("channel")
        if type(registration_type) is not str or registration_type not in _REGISTRATION_TYPES:
            return None
        if type(channel) is not str or channel not in _CHANNELS:
            return None

        # Person.
        bsn = person.get("bsn")
        if bsn is not None and not (type(bsn) is str and _bsn_ok(bsn)):
            return None
        given_names = person.get("givenNames")
        surname = person.get("surname")
        if not (_name_ok(given_names) and _name_ok(surname)):
            return None
        born = _date(person.get("dateOfBirth"))
        if born is None or not self.oldest_birth <= born < self.today:
            return None
        nationality = person.get("nationality")
        if type(nationality) is not str or nationality not in self.countries:
            return None
        email = phone = None
        contact = person.get("contact")
        if contact is not None:
            if type(contact) is not dict or not contact.keys() <= _CONTACT_KEYS:
                return None
            email = contact.get("email")
            phone = contact.get("phone")
            if email is not None and not (
                type(email) is str and len(email) <= 254 and email.isascii() and _EMAIL(email)
            ):
                return None
            if phone is not None and not (type(phone) is str and phone.isascii() and _PHONE(phone)):
                return None

        # Residence.
        residence_code = residence.get("municipalityCode")
        if type(residence_code) is not str or residence_code not in self.municipality_codes:
            return None
        postcode = residence.get("postcode")
        if postcode is not None and not (
            type(postcode) is str
            and postcode.isascii()
            and _POSTCODE(postcode)
            and postcode[4:] not in _POSTCODE_EXCLUDED
        ):
            return None

        # Work.
        work_code = work.get("municipalityCode")
        if type(work_code) is not str or work_code not in self.municipality_codes:
            return None
        employer = work.get("employerKvkNumber")
        if type(employer) is not str or not _DIGITS_8(employer):
            return None
        start_date = None
        if work.get("startDate") is not None:
            start_date = _date(work["startDate"])
            if start_date is None or start_date < validation.EARLIEST_DATE:
                return None

        # Dates and the rules across fields (validation.cross_field_problems).
        arrival = _date(document.get("arrivalDate"))
        if arrival is None or not validation.EARLIEST_DATE <= arrival <= self.latest_arrival:
            return None
        expected_end = None
        if document.get("expectedEndDate") is not None:
            expected_end = _date(document["expectedEndDate"])
            if expected_end is None or expected_end <= arrival:
                return None
        age = validation.age_on(born, arrival)
        if not validation.MIN_WORKING_AGE <= age <= validation.MAX_WORKING_AGE:
            return None
        if self.only_municipality and self.own_municipality not in (residence_code, work_code):
            return None

        row = _ROW.copy()  # the columns in the order of the field map, as plain_fields gives them
        row["bsn"] = bsn
        row["given_names"] = given_names
        row["surname"] = surname
        row["date_of_birth"] = born
        row["nationality"] = nationality
        row["contact_email"] = email
        row["contact_phone"] = phone
        row["registration_type"] = registration_type
        row["channel"] = channel
        row["residence_municipality_code"] = residence_code
        row["residence_postcode"] = postcode
        row["work_municipality_code"] = work_code
        row["employer_kvk_number"] = employer
        row["work_start_date"] = start_date
        row["arrival_date"] = arrival
        row["expected_end_date"] = expected_end
        # The optional text fields checked by their pattern alone.
        for group, checks in ((residence, _RESIDENCE_PATTERNS), (work, _WORK_PATTERNS)):
            for key, column, check in checks:
                value = group.get(key)
                if value is not None and not (type(value) is str and check(value)):
                    return None
                row[column] = value
        return row


_ROW: dict[str, Any] = dict.fromkeys(f.column for f in fields.FIELDS)
_RESIDENCE_PATTERNS = _PATTERN_CHECKED["residence"]
_WORK_PATTERNS = _PATTERN_CHECKED["work"]


def _bsn_ok(value: str) -> bool:
    """9 ASCII digits, not all zero, passing the eleven-test (python-stdnum's nl.bsn rule)."""
    if not _DIGITS_9(value):
        return False
    digits = [ord(c) - 48 for c in value]
    total = (
        9 * digits[0]
        + 8 * digits[1]
        + 7 * digits[2]
        + 6 * digits[3]
        + 5 * digits[4]
        + 4 * digits[5]
        + 3 * digits[6]
        + 2 * digits[7]
        - digits[8]
    )
    return total % 11 == 0 and value != "000000000"


def _name_ok(value: Any) -> bool:
    return type(value) is str and 1 <= len(value) <= 200


def _date(value: Any) -> date | None:
    if type(value) is not str or not _ISO_DATE(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None
