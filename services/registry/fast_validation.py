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
from services.registry import validation
from services.registry.visibility import REGISTRARS

_PERSON_KEYS = frozenset({"bsn", "givenNames", "surname", "dateOfBirth", "nationality", "contact"})
_CONTACT_KEYS = frozenset({"email", "phone"})
_RESIDENCE_KEYS = frozenset({"municipalityCode", "postcode", "houseNumber", "housingLocationId"})
_WORK_KEYS = frozenset({"municipalityCode", "employerKvkNumber", "agencyKvkNumber", "economicLocationId", "startDate"})
_BODY_KEYS = frozenset({"person", "registrationType", "channel", "residence", "work", "arrivalDate", "expectedEndDate"})
_REGISTRATION_TYPES = frozenset({"rni", "brp-resident", "none"})
_CHANNELS = frozenset({"digital", "desk", "mobile-desk"})
_POSTCODE_EXCLUDED = frozenset({"SA", "SD", "SS"})  # python-stdnum's list

# The schema's patterns, matched in full; ASCII is required before any of them is tried, so that
# Python's and pydantic-core's (Rust) regex dialects cannot differ on what \s or a class means.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}").fullmatch
_DIGITS_9 = re.compile(r"[0-9]{9}").fullmatch
_DIGITS_8 = re.compile(r"[0-9]{8}").fullmatch
_POSTCODE = re.compile(r"[1-9][0-9]{3}[A-Z]{2}").fullmatch
_HOUSE_NUMBER = re.compile(r"[1-9][0-9]{0,4}( ?[A-Za-z0-9-]{1,6})?").fullmatch
_LOCATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}").fullmatch
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+").fullmatch
_PHONE = re.compile(r"\+?[0-9 ()-]{6,20}").fullmatch


class Checker:
    """Checks for one request: the day's date limits and what the caller may register are fixed once."""

    def __init__(self, principal: Principal, today: date) -> None:
        self.today = today
        self.oldest_birth = today - timedelta(days=365 * 100)
        self.latest_arrival = today + validation.MAX_ARRIVAL_AHEAD
        # visibility.check_may_register: registrars only, and a municipality only its own migrants.
        self.may_register = principal.organisation_type in REGISTRARS
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
        house_number = residence.get("houseNumber")
        housing_location_id = residence.get("housingLocationId")
        if not (_absent_or(house_number, _HOUSE_NUMBER) and _absent_or(housing_location_id, _LOCATION_ID)):
            return None

        # Work.
        work_code = work.get("municipalityCode")
        if type(work_code) is not str or work_code not in self.municipality_codes:
            return None
        employer = work.get("employerKvkNumber")
        if type(employer) is not str or not _DIGITS_8(employer):
            return None
        agency = work.get("agencyKvkNumber")
        economic_location_id = work.get("economicLocationId")
        if not (_absent_or(agency, _DIGITS_8) and _absent_or(economic_location_id, _LOCATION_ID)):
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

        return {
            "bsn": bsn,
            "given_names": given_names,
            "surname": surname,
            "date_of_birth": born,
            "nationality": nationality,
            "contact_email": email,
            "contact_phone": phone,
            "registration_type": registration_type,
            "channel": channel,
            "residence_municipality_code": residence_code,
            "residence_postcode": postcode,
            "residence_house_number": house_number,
            "housing_location_id": housing_location_id,
            "work_municipality_code": work_code,
            "employer_kvk_number": employer,
            "agency_kvk_number": agency,
            "economic_location_id": economic_location_id,
            "work_start_date": start_date,
            "arrival_date": arrival,
            "expected_end_date": expected_end,
        }


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


def _absent_or(value: Any, check: Callable[[str], object]) -> bool:
    """An optional text field: absent (None), or a string the check accepts."""
    return value is None or (type(value) is str and bool(check(value)))


def _name_ok(value: Any) -> bool:
    return type(value) is str and 1 <= len(value) <= 200


def _date(value: Any) -> date | None:
    if type(value) is not str or not _ISO_DATE(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None
