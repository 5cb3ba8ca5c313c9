"""Builders for registration test data."""

from __future__ import annotations

import base64
import itertools
import json
import random
import re
from datetime import date, timedelta
from typing import Any

import httpx

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


# Purpose binding (services/registry/activities.py): every person-level registry request names its
# processing activity. Tests send one by default, chosen as a real client would, unless the request
# names one itself (a test that wants none uses a client without this hook).
ACTIVITY_HEADER = "X-Processing-Activity"
_PERSON_LEVEL = re.compile(r"/v1/(registrations|processing-log|subject-access-requests)(/|$|\?)")
_SUBJECT_RIGHTS = re.compile(r"/v1/(subject-access-requests|registrations/[^/]+/(erasure|restriction))$")
_BY_PARTY = {"municipality": "lmx-registration", "information-point": "lmx-information-point"}


def default_activity(path: str, organisation_type: str | None) -> str | None:
    """The activity a client of this party type names for this path; None off person-level paths."""
    if not _PERSON_LEVEL.search(path):
        return None
    if _SUBJECT_RIGHTS.search(path):
        return "lmx-subject-rights"
    if "/processing-log" in path:
        return "lmx-accountability"
    return _BY_PARTY.get(organisation_type or "", "lmx-consultation")


def token_organisation_type(authorization: str | None) -> str | None:
    """The org_type claim of a bearer token, unverified (test support only)."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return None
    try:
        payload = authorization.split()[1].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    return claims.get("org_type") if isinstance(claims, dict) else None


async def add_processing_activity(request: httpx.Request) -> None:
    """An httpx request hook: the default X-Processing-Activity on person-level registry requests."""
    if ACTIVITY_HEADER in request.headers:
        return
    activity = default_activity(request.url.path, token_organisation_type(request.headers.get("authorization")))
    if activity is not None:
        request.headers[ACTIVITY_HEADER] = activity
