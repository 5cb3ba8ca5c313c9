"""Registrations through the gateway: create (idempotent), read, merge-patch, departure, list, search, bulk."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta

import pytest

from tests.conftest import assert_problem
from tests.support.db import rows, scalar
from tests.support.registrations import make_registration, valid_bsn

WRITE = ("registry:read", "registry:write")


@pytest.fixture
async def halderberge(stack, http):
    token = await stack.client_token(http, scopes=WRITE, municipality_code="GM1655")
    return {"Authorization": f"Bearer {token}"}


def api(stack) -> str:
    return stack.gateway + "/registry/v1"


async def create(stack, http, headers, body=None, **extra_headers):
    response = await http.post(
        api(stack) + "/registrations", json=body or make_registration(), headers=headers | extra_headers
    )
    return response


async def test_create_answers_201_with_location_and_etag_and_stores_a_pseudonym(stack, http, halderberge):
    body = make_registration()
    response = await create(stack, http, halderberge, body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"/registry/v1/registrations/{created['id']}"
    assert response.headers["etag"] == '"1"'
    assert response.headers["cache-control"] == "no-store"
    assert created["status"] == "active"
    assert created["person"]["bsn"] == body["person"]["bsn"]
    assert created["residence"] == {
        "municipalityCode": "GM1655",
        "postcode": "4731AB",
        "houseNumber": "12",
        "housingLocationId": None,
    }
    assert created["registeredBy"]["organisationType"] == "municipality"
    stored = (
        await rows(stack.database_urls["registry"], "SELECT * FROM registrations WHERE id = :id", id=created["id"])
    )[0]
    assert body["person"]["bsn"] not in json.dumps(stored, default=str)  # neither pseudonym nor ciphertext
    assert len(stored["bsn_pseudonym"]) == 64
    assert stored["surname"] == "Kowalska"

    again = await http.get(api(stack) + f"/registrations/{created['id']}", headers=halderberge)
    assert again.status_code == 200 and again.json() == created and again.headers["etag"] == '"1"'


async def test_invalid_registration_lists_every_error(stack, http, halderberge):
    body = make_registration(
        **{
            "person.bsn": "123456789",
            "person.dateOfBirth": (date.today() + timedelta(days=1)).isoformat(),
            "person.nationality": "XX",
            "residence.municipalityCode": "GM9999",
            "residence.postcode": "12345",
            "work.employerKvkNumber": "1234",
            "arrivalDate": (date.today() + timedelta(days=365)).isoformat(),
            "registrationType": "tourist",
            "favouriteColour": "blue",
        }
    )
    body_problem = assert_problem(await create(stack, http, halderberge, body), 400, "invalid-input")
    names = {p["name"] for p in body_problem["invalidParams"]}
    assert names == {
        "person.bsn",
        "person.dateOfBirth",
        "person.nationality",
        "residence.municipalityCode",
        "residence.postcode",
        "work.employerKvkNumber",
        "arrivalDate",
        "registrationType",
        "favouriteColour",
    }
    cross = make_registration(
        **{"person.dateOfBirth": "2018-01-01", "expectedEndDate": (date.today() - timedelta(days=100)).isoformat()}
    )
    names = {p["name"] for p in assert_problem(await create(stack, http, halderberge, cross), 400)["invalidParams"]}
    assert names == {"person.dateOfBirth", "expectedEndDate"}


async def test_a_municipality_registers_only_people_who_live_or_work_in_it(stack, http, halderberge):
    body = make_registration(**{"residence.municipalityCode": "GM0758", "work.municipalityCode": "GM0758"})
    assert_problem(await create(stack, http, halderberge, body), 403, "forbidden")


async def test_a_second_active_registration_for_the_same_bsn_is_409(stack, http, halderberge):
    body = make_registration()
    assert (await create(stack, http, halderberge, body)).status_code == 201
    again = make_registration(**{"person.bsn": body["person"]["bsn"]})
    assert_problem(await create(stack, http, halderberge, again), 409, "conflict")


async def test_idempotency_key(stack, http, halderberge):
    key = str(uuid.uuid4())
    body = make_registration()
    first = await create(stack, http, halderberge, body, **{"Idempotency-Key": key})
    second = await create(stack, http, halderberge, body, **{"Idempotency-Key": key})
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert first.headers["location"] == second.headers["location"]
    count = await scalar(
        stack.database_urls["registry"],
        "SELECT count(*) FROM registrations WHERE bsn_pseudonym = "
        "(SELECT bsn_pseudonym FROM registrations WHERE id = :id)",
        id=first.json()["id"],
    )
    assert count == 1
    other = make_registration(**{"person.bsn": body["person"]["bsn"], "person.surname": "Nowak"})
    assert_problem(await create(stack, http, halderberge, other, **{"Idempotency-Key": key}), 422, "unprocessable")

    # A request with the same key still in flight: 409.
    in_flight = str(uuid.uuid4())
    client_id = (await http.get(api(stack) + f"/registrations/{first.json()['id']}", headers=halderberge)).json()[
        "registeredBy"
    ]["clientId"]
    from datetime import UTC, datetime

    from lmx_common.db import Database
    from services.registry.idempotency import body_hash

    database = Database(stack.database_urls["registry"])
    payload = json.dumps(make_registration()).encode()
    from sqlalchemy import text

    async with database.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO idempotency_keys (client_id, key, request_hash, state, created_at) "
                "VALUES (:c, :k, :h, 'in-flight', :t)"
            ),
            {"c": client_id, "k": in_flight, "h": body_hash(payload), "t": datetime.now(UTC)},
        )
    await database.dispose()
    response = await http.post(
        api(stack) + "/registrations",
        content=payload,
        headers=halderberge | {"Idempotency-Key": in_flight, "Content-Type": "application/json"},
    )
    assert_problem(response, 409, "conflict")


async def test_a_failed_create_releases_its_idempotency_key(stack, http, halderberge):
    key = str(uuid.uuid4())
    forbidden = make_registration(**{"residence.municipalityCode": "GM0758", "work.municipalityCode": "GM0758"})
    assert_problem(await create(stack, http, halderberge, forbidden, **{"Idempotency-Key": key}), 403)
    stored = await scalar(
        stack.database_urls["registry"], "SELECT count(*) FROM idempotency_keys WHERE key = :k", k=key
    )
    assert stored == 0


async def test_merge_patch_with_if_match(stack, http, halderberge):
    created = await create(stack, http, halderberge)
    url = api(stack) + f"/registrations/{created.json()['id']}"
    patch_headers = halderberge | {"Content-Type": "application/merge-patch+json"}
    change = json.dumps(
        {"residence": {"postcode": "4731 cd", "housingLocationId": "loc-halderberge-1"}, "person": {"contact": None}}
    )

    assert_problem(await http.patch(url, content=change, headers=patch_headers), 428, "precondition-required")
    assert_problem(
        await http.patch(url, content=change, headers=patch_headers | {"If-Match": '"7"'}), 412, "precondition-failed"
    )
    wrong_type = await http.patch(
        url, content=change, headers=halderberge | {"If-Match": '"1"', "Content-Type": "application/json"}
    )
    assert_problem(wrong_type, 415, "unsupported-media-type")

    changed = await http.patch(url, content=change, headers=patch_headers | {"If-Match": '"1"'})
    assert changed.status_code == 200, changed.text
    assert changed.headers["etag"] == '"2"'
    body = changed.json()
    assert body["residence"]["postcode"] == "4731CD"
    assert body["residence"]["housingLocationId"] == "loc-halderberge-1"
    assert body["residence"]["houseNumber"] == "12"  # untouched fields stay
    assert body["person"]["contact"] is None  # null removes
    assert_problem(await http.patch(url, content=change, headers=patch_headers | {"If-Match": '"1"'}), 412)


async def test_fields_a_caller_may_not_set_are_refused(stack, http, halderberge):
    created = await create(stack, http, halderberge)
    url = api(stack) + f"/registrations/{created.json()['id']}"
    headers = halderberge | {"Content-Type": "application/merge-patch+json", "If-Match": '"1"'}
    refused = await http.patch(
        url,
        content=json.dumps({"status": "departed", "channel": "digital", "id": "x", "shoeSize": 44}),
        headers=headers,
    )
    body = assert_problem(refused, 400, "invalid-input")
    assert {p["name"] for p in body["invalidParams"]} == {"status", "channel", "id", "shoeSize"}
    nested = await http.patch(
        url, content=json.dumps({"residence": {"floor": 3}, "person": {"bsn": "123"}}), headers=headers
    )
    assert {p["name"] for p in assert_problem(nested, 400)["invalidParams"]} == {"residence.floor", "person.bsn"}
    unchanged = await http.get(url, headers=halderberge)
    assert unchanged.json() == created.json()


async def test_departure(stack, http, halderberge):
    created = await create(stack, http, halderberge)
    url = api(stack) + f"/registrations/{created.json()['id']}"
    departure = {
        "date": date.today().isoformat(),
        "reason": "housing-lost",
        "destination": {"type": "municipality", "municipalityCode": "GM0758"},
    }
    response = await http.post(url + "/departure", json=departure, headers=halderberge)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "departed"
    assert response.json()["departure"] == {
        "date": departure["date"],
        "reason": "housing-lost",
        "destination": {"type": "municipality", "municipalityCode": "GM0758", "countryCode": None},
    }
    assert response.headers["etag"] == '"2"'
    assert_problem(await http.post(url + "/departure", json=departure, headers=halderberge), 409, "conflict")

    other = await create(stack, http, halderberge)
    bad = {"date": "2001-01-01", "reason": "bored", "destination": {"type": "abroad"}}
    problem = assert_problem(
        await http.post(api(stack) + f"/registrations/{other.json()['id']}/departure", json=bad, headers=halderberge),
        400,
    )
    assert {p["name"] for p in problem["invalidParams"]} == {"reason"}
    bad["reason"] = "other"
    problem = assert_problem(
        await http.post(api(stack) + f"/registrations/{other.json()['id']}/departure", json=bad, headers=halderberge),
        400,
    )
    assert {p["name"] for p in problem["invalidParams"]} == {"date", "destination.countryCode"}


async def test_list_filters_and_pages_through_what_the_caller_sees(stack, http):
    token = await stack.client_token(http, scopes=WRITE, municipality_code="GM0777")  # Loon op Zand: unused elsewhere
    headers = {"Authorization": f"Bearer {token}"}
    ids = []
    for i in range(7):
        body = make_registration(
            **{
                "residence.municipalityCode": "GM0777",
                "arrivalDate": (date.today() - timedelta(days=10 + i)).isoformat(),
            }
        )
        ids.append((await create(stack, http, headers, body)).json()["id"])
    url: str | None = api(stack) + "/registrations?residenceMunicipalityCode=GM0777&pageSize=3"
    seen = []
    while url:
        page = (await http.get(url, headers=headers)).json()
        seen += [item["id"] for item in page["items"]]
        url = stack.gateway + page["_links"]["next"]["href"] if page["_links"].get("next") else None
    assert sorted(seen) == sorted(ids)
    recent = (
        await http.get(
            api(stack)
            + "/registrations?residenceMunicipalityCode=GM0777&arrivedFrom="
            + (date.today() - timedelta(days=12)).isoformat(),
            headers=headers,
        )
    ).json()
    assert len(recent["items"]) == 3
    bad = await http.get(api(stack) + "/registrations?status=gone&arrivedFrom=yesterday&pageSize=0", headers=headers)
    assert {p["name"] for p in assert_problem(bad, 400)["invalidParams"]} == {"status", "arrivedFrom", "pageSize"}


async def test_search_by_bsn_is_a_post_and_finds_only_visible_registrations(stack, http, halderberge):
    body = make_registration()
    created = (await create(stack, http, halderberge, body)).json()
    found = await http.post(
        api(stack) + "/registrations/search", json={"bsn": body["person"]["bsn"]}, headers=halderberge
    )
    assert found.status_code == 200
    assert [r["id"] for r in found.json()["items"]] == [created["id"]]
    breda = await stack.client_token(http, scopes=WRITE, municipality_code="GM0758")
    hidden = await http.post(
        api(stack) + "/registrations/search",
        json={"bsn": body["person"]["bsn"]},
        headers={"Authorization": f"Bearer {breda}"},
    )
    assert hidden.json()["items"] == []
    invalid = await http.post(api(stack) + "/registrations/search", json={"bsn": "123456789"}, headers=halderberge)
    assert assert_problem(invalid, 400)["invalidParams"][0]["name"] == "bsn"


async def test_bulk_ndjson_gives_a_result_per_line_and_writes_nothing_for_a_bad_line(stack, http, halderberge):
    good = [make_registration() for _ in range(3)]
    duplicate = make_registration(**{"person.bsn": good[0]["person"]["bsn"]})
    invalid = make_registration(**{"person.bsn": "123456789", "work.employerKvkNumber": "x"})
    lines = [
        json.dumps(good[0]),
        json.dumps(invalid),
        "",
        json.dumps(good[1]),
        "{not json",
        json.dumps(duplicate),
        json.dumps(good[2]),
    ]
    response = await http.post(
        api(stack) + "/registrations/bulk",
        content="\n".join(lines) + "\n",
        headers=halderberge | {"Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["created"] == 3 and result["invalid"] == 3
    by_line = {r["line"]: r for r in result["results"]}
    assert [by_line[n]["status"] for n in (1, 2, 4, 5, 6, 7)] == [
        "created",
        "invalid",
        "created",
        "invalid",
        "invalid",
        "created",
    ]
    assert {e["name"] for e in by_line[2]["errors"]} == {"person.bsn", "work.employerKvkNumber"}
    assert by_line[6]["errors"][0]["code"] == "duplicate"
    created_ids = [by_line[n]["id"] for n in (1, 4, 7)]
    stored = await rows(
        stack.database_urls["registry"],
        "SELECT id FROM registrations WHERE id IN (:a, :b, :c)",
        a=created_ids[0],
        b=created_ids[1],
        c=created_ids[2],
    )
    assert len(stored) == 3
    surname_count = await scalar(
        stack.database_urls["registry"],
        "SELECT count(*) FROM processing_log WHERE registration_id IN (:a, :b, :c) AND action = 'create'",
        a=created_ids[0],
        b=created_ids[1],
        c=created_ids[2],
    )
    assert surname_count == 3


async def test_bulk_csv(stack, http, halderberge):
    header = (
        "bsn,givenNames,surname,dateOfBirth,nationality,registrationType,channel,residenceMunicipalityCode,"
        "residencePostcode,workMunicipalityCode,employerKvkNumber,arrivalDate"
    )
    arrival = (date.today() - timedelta(days=5)).isoformat()
    lines = [
        header,
        f"{valid_bsn()},Ion,Popescu,1990-02-03,RO,rni,mobile-desk,GM1655,4731AB,GM1709,12345678,{arrival}",
        f"{valid_bsn()},Ana,Ionescu,1991-02-03,RO,rni,desk,GM1655,,GM1709,12345678,{arrival}",
        f"{valid_bsn()},Bad,Postcode,1991-02-03,RO,rni,desk,GM1655,99,GM1709,12345678,{arrival}",
    ]
    response = await http.post(
        api(stack) + "/registrations/bulk", content="\n".join(lines), headers=halderberge | {"Content-Type": "text/csv"}
    )
    result = response.json()
    assert response.status_code == 200, response.text
    assert [(r["line"], r["status"]) for r in result["results"]] == [(2, "created"), (3, "created"), (4, "invalid")]
    assert result["results"][2]["errors"][0]["name"] == "residence.postcode"
    unknown_column = await http.post(
        api(stack) + "/registrations/bulk",
        content="bsn,shoeSize\n1,2\n",
        headers=halderberge | {"Content-Type": "text/csv"},
    )
    assert_problem(unknown_column, 400)
    wrong_type = await http.post(
        api(stack) + "/registrations/bulk", content="x", headers=halderberge | {"Content-Type": "application/json"}
    )
    assert_problem(wrong_type, 415)


async def test_unknown_or_malformed_ids_are_404(stack, http, halderberge):
    for registration_id in (str(uuid.uuid4()), "not-a-uuid", "1%20OR%201=1"):
        assert_problem(
            await http.get(api(stack) + f"/registrations/{registration_id}", headers=halderberge), 404, "not-found"
        )


async def test_concurrent_changes_with_the_same_etag_cannot_both_win(stack, http, halderberge):
    import asyncio

    created = await create(stack, http, halderberge)
    url = api(stack) + f"/registrations/{created.json()['id']}"
    headers = halderberge | {"Content-Type": "application/merge-patch+json", "If-Match": '"1"'}
    for attempt in range(3):
        if attempt:
            current = await http.get(url, headers=halderberge)
            headers["If-Match"] = current.headers["etag"]
        first, second = await asyncio.gather(
            http.patch(url, content=json.dumps({"residence": {"houseNumber": f"{10 + attempt}"}}), headers=headers),
            http.patch(url, content=json.dumps({"residence": {"houseNumber": f"{20 + attempt}"}}), headers=headers),
        )
        statuses = sorted([first.status_code, second.status_code])
        assert statuses[0] == 200 and statuses[1] in (409, 412), (first.text, second.text)
        winner = first if first.status_code == 200 else second
        stored = await http.get(url, headers=halderberge)
        assert stored.json()["residence"]["houseNumber"] == winner.json()["residence"]["houseNumber"]
        assert stored.headers["etag"] == winner.headers["etag"]
