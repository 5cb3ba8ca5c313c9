"""`lmx registry import` through the real gateway, and anonymisation with statistics that stay right."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta

from typer.testing import CliRunner

from lmx_cli.main import app
from services.registry.retention import anonymise_departed
from tests.support.db import rows
from tests.support.registrations import make_registration, valid_bsn

runner = CliRunner()


async def test_import_a_csv_file_through_the_api_with_an_error_report(stack, http, tmp_path):
    client_id, secret = await stack.register_client(
        scopes=("registry:read", "registry:write"), municipality_code="GM0873"
    )  # Woensdrecht
    arrival = (date.today() - timedelta(days=3)).isoformat()
    header = (
        "bsn,givenNames,surname,dateOfBirth,nationality,registrationType,channel,residenceMunicipalityCode,"
        "workMunicipalityCode,employerKvkNumber,arrivalDate"
    )
    good = [f"{valid_bsn()},Jan,Kowal,1990-01-01,PL,rni,desk,GM0873,GM1709,12345678,{arrival}" for _ in range(5)]
    bad = f"123456789,Bad,Line,1990-01-01,XX,rni,desk,GM0873,GM1709,12345678,{arrival}"
    file = tmp_path / "list.csv"
    file.write_text("\n".join([header, good[0], good[1], bad, good[2], good[3], good[4]]) + "\n")
    result = runner.invoke(
        app,
        [
            "registry",
            "import",
            str(file),
            "--client-id",
            client_id,
            "--client-secret",
            secret,
            "--gateway",
            stack.gateway,
            "--batch-size",
            "2",
        ],
    )
    assert result.exit_code == 1, result.output  # one line refused
    assert "created 5, refused 1" in result.output
    with (tmp_path / "list.csv.errors.csv").open() as fh:
        report = list(csv.DictReader(fh))
    assert {(r["line"], r["field"]) for r in report} == {("4", "person.bsn"), ("4", "person.nationality")}
    stored = await rows(
        stack.database_urls["registry"],
        "SELECT count(*) AS n FROM registrations WHERE created_by_client_id = :c",
        c=client_id,
    )
    assert stored[0]["n"] == 5


async def test_import_ndjson(stack, http, tmp_path):
    client_id, secret = await stack.register_client(
        scopes=("registry:read", "registry:write"), municipality_code="GM0873"
    )
    file = tmp_path / "list.ndjson"
    file.write_text(
        "\n".join(json.dumps(make_registration(**{"residence.municipalityCode": "GM0873"})) for _ in range(3))
    )
    result = runner.invoke(
        app,
        [
            "registry",
            "import",
            str(file),
            "--client-id",
            client_id,
            "--client-secret",
            secret,
            "--gateway",
            stack.gateway,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "created 3, refused 0" in result.output


async def test_anonymisation_keeps_statistics_and_drops_the_person(stack, http):
    token = await stack.client_token(http, scopes=("registry:read", "registry:write"), municipality_code="GM1723")
    headers = {"Authorization": f"Bearer {token}"}
    api = stack.gateway + "/registry/v1"
    body = make_registration(
        **{"residence.municipalityCode": "GM1723", "arrivalDate": (date.today() - timedelta(days=80)).isoformat()}
    )
    registration_id = (await http.post(api + "/registrations", json=body, headers=headers)).json()["id"]
    await http.post(
        api + f"/registrations/{registration_id}/departure",
        headers=headers,
        json={
            "date": (date.today() - timedelta(days=40)).isoformat(),
            "reason": "job-lost",
            "destination": {"type": "abroad", "countryCode": "PL"},
        },
    )
    statistics = await stack.client_token(http, scopes=("registry:statistics",), municipality_code="GM1723")
    # The calendar month of the departure: anonymisation with k = 1 keeps the month.
    url = api + f"/statistics/departures?municipalityCode=GM1723&period={date.today() - timedelta(days=40):%Y-%m}"
    before = (await http.get(url, headers={"Authorization": f"Bearer {statistics}"})).json()

    from lmx_common.db import Database

    database = Database(stack.database_urls["registry"])
    async with database.sessionmaker() as session, session.begin():
        assert await anonymise_departed(session, retention_days=60) == 0  # not yet: departed 40 days ago
    async with database.sessionmaker() as session, session.begin():
        # k = 1: the departure keeps its month, and this period holds whole months (one person alone
        # would otherwise be generalised further: tests/unit/test_registry_k_anonymity.py).
        assert await anonymise_departed(session, retention_days=30, k=1) >= 1
    await database.dispose()

    stored = (
        await rows(stack.database_urls["registry"], "SELECT * FROM registrations WHERE id = :id", id=registration_id)
    )[0]
    for field in (
        "bsn_pseudonym",
        "bsn_encrypted",
        "given_names",
        "surname",
        "date_of_birth",
        "contact_email",
        "residence_postcode",
    ):
        assert stored[field] is None, field
    assert stored["anonymised_at"] is not None and stored["residence_municipality_code"] == "GM1723"
    after = (await http.get(url, headers={"Authorization": f"Bearer {statistics}"})).json()
    assert before["total"]["exact"] is True and before["total"]["count"] >= 1
    assert after["cells"] == before["cells"] and after["total"] == before["total"]
    read = await http.get(api + f"/registrations/{registration_id}", headers=headers)
    assert read.json()["anonymised"] is True and read.json()["person"]["surname"] is None
    found = await http.post(api + "/registrations/search", json={"bsn": body["person"]["bsn"]}, headers=headers)
    assert found.json()["items"] == []
    log = await rows(
        stack.database_urls["registry"],
        "SELECT action, client_id FROM processing_log WHERE registration_id = :id ORDER BY id",
        id=registration_id,
    )
    assert {"action": "anonymise", "client_id": "registry-retention-job"} in log
