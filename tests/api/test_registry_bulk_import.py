"""What a bulk import stores is what a single POST stores, with its processing-log record and event, on
both databases (COPY on PostgreSQL); a BSN registered concurrently refuses the whole batch."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from lmx_common.db import COPY_THRESHOLD, Database
from lmx_common.problems import ProblemError
from services.registry import bulk, repository
from services.registry.crypto import BsnVault
from tests.support.db import rows, scalar
from tests.support.registrations import make_registration
from tests.unit.test_registry_bulk_fast_path import day, principal


@pytest.fixture
async def information_point(stack, http):
    token = await stack.client_token(http, scopes=("registry:read", "registry:write"), org_type="information-point")
    return {"Authorization": f"Bearer {token}"}


def _comparable(row: dict[str, Any]) -> dict[str, Any]:
    bookkeeping = {"id", "bsn_encrypted", "created_at", "updated_at", "record_key"}  # record_key: random per record
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
    assert {(by_id[i]["activity"], len(by_id[i]["trace_id"])) for i in ids} == {("lmx-information-point", 32)}
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
