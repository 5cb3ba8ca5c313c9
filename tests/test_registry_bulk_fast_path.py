"""The bulk import's fast path (services/registry/fast_validation.py) against the pydantic model.

The fast path may refuse what the model accepts (the line then goes through the model), but whatever
it accepts the model must accept with the same values; and what a bulk import stores must be what a
single POST stores, with its processing-log record and event, on both databases (COPY on PostgreSQL).
"""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmx_common.auth import OrganisationType, Principal
from lmx_common.db import COPY_THRESHOLD, Database
from lmx_common.problems import ProblemError
from services.registry import bulk, fast_validation, repository
from services.registry.crypto import BsnVault
from tests.support.db import rows, scalar
from tests.support.registrations import make_registration, valid_bsn

TODAY = date.today()


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def born_before_arrival(years: int, days: int = 0) -> str:
    """A date of birth `years` years (and `days` days more) before make_registration's arrival date."""
    arrival = TODAY - timedelta(days=40)
    try:
        born = arrival.replace(year=arrival.year - years)
    except ValueError:  # 29 February
        born = arrival.replace(year=arrival.year - years, day=28)
    return (born - timedelta(days=days)).isoformat()


def principal(kind: OrganisationType = OrganisationType.INFORMATION_POINT, code: str | None = None) -> Principal:
    return Principal(
        client_id="test-client",
        organisation_oin="00000099000000000042",
        organisation_type=kind,
        scopes=frozenset({"registry:write"}),
        token_id="t",
        expires_at=2**31,
        municipality_code=code,
    )


PRINCIPALS = [
    principal(),
    principal(OrganisationType.MUNICIPALITY, "GM1655"),
    principal(OrganisationType.MUNICIPALITY, "GM0363"),  # neither residence nor work of the base body
    principal(OrganisationType.MUNICIPALITY, None),
    principal(OrganisationType.PROVINCE),
]

WRONG_TYPES = [None, 1, 1.5, True, [], {}, ["x"]]
# Candidate values per field: canonical valid ones, valid ones in another form, invalid ones.
CANDIDATES: dict[str, list[Any]] = {
    "person.bsn": [
        valid_bsn(),
        "111222333",
        " 111222333",
        "111.222.333",
        "11122233",
        "123456789",
        "000000000",
        "\u0661\u0661\u0661\u0662\u0662\u0662\u0663\u0663\u0663",
        "111222333\n",
        "",
        *WRONG_TYPES,
    ],
    "person.givenNames": ["Ion", "", "x" * 200, "x" * 201, " ", "Zoë", *WRONG_TYPES],
    "person.surname": ["Popescu", "", "y" * 200, "y" * 201, *WRONG_TYPES],
    "person.dateOfBirth": [
        "1994-05-17",
        day(-1),
        day(0),
        day(-365 * 100),
        day(-365 * 100 - 1),
        "1994-5-17",
        "19940517",
        "1994-02-30",
        "1994-05-17T00:00:00",
        born_before_arrival(15),
        born_before_arrival(15, -1),
        born_before_arrival(75),
        born_before_arrival(76),
        born_before_arrival(76, -1),
        "\u0661\u0669\u0669\u0664-05-17",
        *WRONG_TYPES,
    ],
    "person.nationality": ["PL", "RO", "pl", "XX", "POL", "", *WRONG_TYPES],
    "person.contact": [
        None,
        {},
        {"email": "a@b.pl"},
        {"phone": "+48 600 100 200"},
        {"email": "a@b", "phone": "12"},
        {"email": "a@b.pl\n"},
        {"email": "a\x1cb@c.pl"},
        {"email": "ä@b.pl"},
        {"email": "a@b.pl", "fax": "1"},
        {"email": "a" * 250 + "@b.pl"},
        {"phone": "+48\u2003600 100"},
        {"email": None, "phone": None},
        "a@b.pl",
    ],
    "registrationType": ["rni", "brp-resident", "none", "RNI", "tourist", *WRONG_TYPES],
    "channel": ["desk", "digital", "mobile-desk", "phone", *WRONG_TYPES],
    "residence.municipalityCode": ["GM1655", "GM0363", "GM9999", "gm1655", *WRONG_TYPES],
    "residence.postcode": [
        "4731AB",
        "4731 AB",
        "4731ab",
        "NL-4731AB",
        "4731SS",
        "0731AB",
        "99",
        "\uff14731AB",
        None,
        1234,
    ],
    "residence.houseNumber": ["12", "12a", "12 A", "0", "123456", "12-bis", "12\n", None, 12],
    "residence.housingLocationId": ["wb-gm1655-01", "-x", "x" * 64, "x" * 65, "é", None, 5],
    "work.municipalityCode": ["GM1709", "GM1655", "GM0000", None, 1709],
    "work.employerKvkNumber": [
        "12345678",
        "1234567",
        "123456789",
        "".join(chr(0xFF11 + i) for i in range(8)),
        "1234567a",
        None,
        12345678,
    ],
    "work.agencyKvkNumber": ["87654321", "8765432", None, 87654321],
    "work.economicLocationId": ["wb-moerdijk-logistics-park", "", None, ["x"]],
    "work.startDate": [day(-30), "1990-01-01", "1989-12-31", "2026-13-01", None, 20260101],
    "arrivalDate": [day(-40), day(90), day(91), "1990-01-01", "1989-12-31", day(0), None, "x"],
    "expectedEndDate": [day(300), day(-40), day(-41), day(-39), None, "tomorrow"],
}
KEY_CHANGES = [
    ("remove", "person"),
    ("remove", "person.givenNames"),
    ("remove", "person.nationality"),
    ("remove", "work.employerKvkNumber"),
    ("remove", "residence.municipalityCode"),
    ("remove", "arrivalDate"),
    ("remove", "channel"),
    ("add", "favouriteColour"),
    ("add", "person.shoeSize"),
    ("add", "work.salary"),
    ("add", "residence.floor"),
    ("rename", "registrationType:registration_type"),
    ("rename", "person.givenNames:person.given_names"),
    ("rename", "work.employerKvkNumber:work.employer_kvk_number"),
]


def _set(document: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    target = document
    for part in parents:
        if not isinstance(target.get(part), dict):
            return  # the parent was replaced or removed by an earlier change
        target = target[part]
    target[last] = value


def _pop(document: dict[str, Any], path: str) -> Any:
    *parents, last = path.split(".")
    target = document
    for part in parents:
        if not isinstance(target.get(part), dict):
            return None
        target = target[part]
    return target.pop(last, None)


def _change_key(document: dict[str, Any], change: tuple[str, str]) -> None:
    kind, path = change
    if kind == "remove":
        _pop(document, path)
    elif kind == "add":
        _set(document, path, "x")
    else:
        old, new = path.split(":")
        value = _pop(document, old)
        if value is not None:
            _set(document, new, value)


@st.composite
def documents(draw: st.DrawFn) -> Any:
    document = make_registration(**{"residence.housingLocationId": "wb-gm1655-01"})
    if draw(st.booleans()):
        _pop(document, "person.contact")
    for path in draw(st.lists(st.sampled_from(sorted(CANDIDATES)), max_size=4, unique=True)):
        _set(document, path, draw(st.sampled_from(CANDIDATES[path])))
    for change in draw(st.lists(st.sampled_from(KEY_CHANGES), max_size=2, unique=True)):
        _change_key(document, change)
    if draw(st.integers(0, 30)) == 0:
        return draw(st.sampled_from([None, [], "text", 1, [document]]))
    return document


@pytest.mark.parametrize("who", PRINCIPALS[:3], ids=["information-point", "its-municipality", "other-municipality"])
def test_every_single_change_is_judged_alike(who: Principal):
    """Each candidate value and key change on its own, on a valid line: boundaries are hit exactly."""
    base = make_registration(**{"residence.housingLocationId": "wb-gm1655-01"})
    checker = fast_validation.Checker(who, date.today())
    changed: list[dict[str, Any]] = [base]
    for path, values in CANDIDATES.items():
        for value in values:
            document = copy.deepcopy(base)
            _set(document, path, value)
            changed.append(document)
    for change in KEY_CHANGES:
        document = copy.deepcopy(base)
        _change_key(document, change)
        changed.append(document)
    taken_fast = 0
    for document in changed:
        fast = checker.plain_row(copy.deepcopy(document))
        slow = bulk._checked_slowly(copy.deepcopy(document), who)
        if fast is not None:
            taken_fast += 1
            assert slow == fast, document
    if who.municipality_code in (None, "GM1655"):  # the base line is one this caller may register
        assert taken_fast > len(changed) // 4  # the fast path is taken for the usual lines, not only the base


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents(), who=st.sampled_from(PRINCIPALS))
def test_the_fast_path_accepts_nothing_the_model_refuses_and_gives_the_same_values(document: Any, who: Principal):
    fast = fast_validation.Checker(who, date.today()).plain_row(copy.deepcopy(document))
    slow = bulk._checked_slowly(copy.deepcopy(document), who)
    if fast is not None:
        assert slow == fast
        assert [type(v) for v in slow.values()] == [type(v) for v in fast.values()]


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"person.contact": None},
        {"person.bsn": None},
        {"person.bsn": "111222333", "expectedEndDate": None, "work.startDate": None},
        {"work.agencyKvkNumber": None, "residence.postcode": None, "residence.houseNumber": "12 A"},
        {"residence.housingLocationId": "wb-gm1655-01", "work.economicLocationId": "wb-moerdijk-logistics-park"},
        {"person.dateOfBirth": day(-365 * 75 - 100), "arrivalDate": day(0)},
    ],
)
def test_usual_lines_take_the_fast_path(overrides: dict[str, Any]):
    document = make_registration(**overrides)
    for who in PRINCIPALS[:2]:
        fast = fast_validation.Checker(who, date.today()).plain_row(document)
        assert fast is not None, document
        assert fast == bulk._checked_slowly(document, who)


def test_a_kvk_number_has_ascii_digits_on_both_paths():
    for kvk in ("".join(chr(0xFF11 + i) for i in range(8)), "\u0661" * 8):
        document = make_registration(**{"work.employerKvkNumber": kvk})
        assert fast_validation.Checker(principal(), date.today()).plain_row(document) is None
        assert bulk._checked_slowly(document, principal()) == [
            {"name": "work.employerKvkNumber", "reason": "a KvK number has 8 digits", "code": "value_error"}
        ]


def test_csv_lines_take_the_fast_path():
    header = "bsn,givenNames,surname,dateOfBirth,nationality,registrationType,channel,residenceMunicipalityCode,"
    header += "residencePostcode,workMunicipalityCode,employerKvkNumber,arrivalDate"
    line = f"{valid_bsn()},Ion,Popescu,1990-02-03,RO,rni,desk,GM1655,4731AB,GM1709,12345678,{day(-5)}"
    [(_, document)] = bulk.parse(f"{header}\n{line}\n".encode(), "text/csv")
    assert fast_validation.Checker(principal(), date.today()).plain_row(document) is not None


# --- Through the stack, on SQLite and PostgreSQL ------------------------------------------------------


@pytest.fixture
async def information_point(stack, http):
    token = await stack.client_token(http, scopes=("registry:read", "registry:write"), org_type="information-point")
    return {"Authorization": f"Bearer {token}"}


def _comparable(row: dict[str, Any]) -> dict[str, Any]:
    bookkeeping = {"id", "bsn_encrypted", "created_at", "updated_at"}
    return {k: v for k, v in row.items() if k not in bookkeeping}


async def test_a_bulk_row_is_the_row_a_single_post_stores(stack, http, information_point):
    api = stack.gateway + "/registry/v1"
    url = stack.database_urls["registry"]
    single_body = make_registration(**{"residence.housingLocationId": "wb-gm1655-01", "residence.postcode": "4731 ab"})
    single = await http.post(api + "/registrations", json=single_body, headers=information_point)
    assert single.status_code == 201, single.text
    single_id = single.json()["id"]
    departed = await http.post(
        api + f"/registrations/{single_id}/departure",
        json={"date": day(0), "reason": "job-lost", "destination": {"type": "unknown"}},
        headers=information_point,
    )
    assert departed.status_code == 200, departed.text  # so the same BSN may be registered again
    # Enough lines for COPY; the first is the single POST's body, in its usual and in another form.
    usual = copy.deepcopy(single_body)
    usual["residence"]["postcode"] = "4731AB"
    lines = [usual] + [make_registration() for _ in range(COPY_THRESHOLD + 5)]
    response = await http.post(
        api + "/registrations/bulk",
        content="\n".join(json.dumps(line) for line in lines),
        headers=information_point | {"Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["created"] == len(lines) and result["invalid"] == 0
    bulk_id = result["results"][0]["id"]
    stored = await rows(
        url, "SELECT * FROM registrations WHERE id IN (:a, :b) ORDER BY created_at", a=single_id, b=bulk_id
    )
    before, after = stored
    assert before["status"] == "departed"
    departure_columns = {"status", "departure_date", "departure_reason", "departure_destination_type", "version"}
    expected = {k: v for k, v in _comparable(before).items() if k not in departure_columns}
    assert {k: v for k, v in _comparable(after).items() if k not in departure_columns} == expected
    assert (after["status"], after["version"], after["departure_date"]) == ("active", 1, None)
    # The stored ciphertext is read by the same code as a single registration's.
    read = await http.get(api + f"/registrations/{bulk_id}", headers=information_point)
    assert read.status_code == 200 and read.json()["person"]["bsn"] == single_body["person"]["bsn"]
    assert read.json()["residence"]["postcode"] == "4731AB"
    assert read.json()["createdAt"].endswith("Z") or "+00:00" in read.json()["createdAt"]


async def test_every_created_line_has_its_processing_log_record_and_event(stack, http, information_point):
    api = stack.gateway + "/registry/v1"
    url = stack.database_urls["registry"]
    good = [
        make_registration(**{"residence.municipalityCode": "GM0405"}) for _ in range(COPY_THRESHOLD + 20)
    ]  # Hoorn: unused elsewhere
    taken = make_registration(**{"residence.municipalityCode": "GM0405"})
    assert (await http.post(api + "/registrations", json=taken, headers=information_point)).status_code == 201
    bad = [
        make_registration(**{"person.bsn": taken["person"]["bsn"]}),  # against an active registration
        make_registration(**{"person.bsn": good[3]["person"]["bsn"]}),  # within the file
        make_registration(**{"person.nationality": "XX"}),
    ]
    events_before = await scalar(url, "SELECT count(*) FROM outbox_events WHERE type = 'registration.created'")
    response = await http.post(
        api + "/registrations/bulk",
        content="\n".join(json.dumps(line) for line in good + bad),
        headers=information_point | {"Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["created"], result["invalid"]) == (len(good), 3)
    assert [r["errors"][0]["code"] for r in result["results"][len(good) :]] == ["duplicate", "duplicate", "value_error"]
    assert result["results"][-1]["errors"][0]["reason"] == "not an ISO 3166-1 alpha-2 country code"
    ids = [r["id"] for r in result["results"][: len(good)]]
    logged = await rows(
        url,
        "SELECT registration_id, action, activity, client_id, trace_id FROM processing_log WHERE action = 'create' "
        "AND registration_id IN (SELECT id FROM registrations WHERE residence_municipality_code = 'GM0405')",
    )
    by_id = {r["registration_id"]: r for r in logged}
    assert set(ids) <= set(by_id)
    assert len([r for r in logged if r["registration_id"] in set(ids)]) == len(ids)  # one each
    assert {(by_id[i]["activity"], len(by_id[i]["trace_id"])) for i in ids} == {("lmx-registration", 32)}
    events_after = await scalar(url, "SELECT count(*) FROM outbox_events WHERE type = 'registration.created'")
    assert events_after - events_before == len(good)
    data = await rows(url, "SELECT data, position FROM outbox_events WHERE type = 'registration.created'")
    payloads = [d["data"] if isinstance(d["data"], dict) else json.loads(d["data"]) for d in data]
    assert payloads.count({"workMunicipalityCode": "GM1709", "residenceMunicipalityCode": "GM0405"}) >= len(good)


async def test_a_bsn_registered_concurrently_refuses_the_whole_batch(backend, monkeypatch):
    """The unique index catches what the duplicate check missed (a concurrent request): nothing is written."""
    database = Database(backend.urls["registry"])
    vault = BsnVault("test-pseudonym-key", "test-encryption-key")
    who = principal()
    try:
        first = make_registration()
        async with database.sessionmaker() as session:
            await bulk.import_lines(session, who, [(1, first)], vault)
            await session.commit()

        async def nothing_taken(session: Any, pseudonyms: Any) -> set[str]:
            return set()

        monkeypatch.setattr(repository, "active_pseudonyms", nothing_taken)
        lines = [(n, make_registration()) for n in range(1, COPY_THRESHOLD + 10)] + [(99, first)]
        async with database.sessionmaker() as session:
            with pytest.raises(ProblemError) as refused:
                await bulk.import_lines(session, who, lines, vault)
            await session.rollback()
        assert refused.value.status == 409
        async with database.engine.connect() as connection:
            from sqlalchemy import text

            found = await connection.execute(
                text("SELECT count(*) FROM registrations WHERE bsn_pseudonym = :p"),
                {"p": vault.pseudonym(lines[0][1]["person"]["bsn"])},
            )
            assert found.scalar_one() == 0
    finally:
        await database.dispose()
