"""Builders for registration test data."""

from __future__ import annotations

import itertools
import random
from datetime import date, timedelta
from typing import Any

_counter = itertools.count(random.randrange(10_000_000, 20_000_000))


def valid_bsn() -> str:
    """A fresh 9-digit number that passes the eleven-test."""
    while True:
        head = f"{next(_counter) % 100_000_000:08d}"
        total = sum(int(d) * w for d, w in zip(head, range(9, 1, -1), strict=True))
        check = total % 11
        if check < 10 and head[0] != "0":
            return head + str(check)


def make_registration(**overrides: Any) -> dict[str, Any]:
    """A valid POST /registrations body; overrides replace whole top-level parts or use dotted paths."""
    body: dict[str, Any] = {
        "person": {
            "bsn": valid_bsn(),
            "givenNames": "Agnieszka",
            "surname": "Kowalska",
            "dateOfBirth": "1994-05-17",
            "nationality": "PL",
            "contact": {"email": "a.kowalska@example.pl", "phone": "+48 600 100 200"},
        },
        "registrationType": "rni",
        "channel": "desk",
        "residence": {"municipalityCode": "GM1655", "postcode": "4731AB", "houseNumber": "12"},
        "work": {
            "municipalityCode": "GM1709",
            "employerKvkNumber": "12345678",
            "agencyKvkNumber": "87654321",
            "startDate": (date.today() - timedelta(days=30)).isoformat(),
        },
        "arrivalDate": (date.today() - timedelta(days=40)).isoformat(),
        "expectedEndDate": (date.today() + timedelta(days=300)).isoformat(),
    }
    for key, value in overrides.items():
        parts = key.split(".")
        target = body
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        if value is None:
            target.pop(parts[-1], None)
        else:
            target[parts[-1]] = value
    return body
