"""The processing log: exactly one record per data subject per processing, none for a failed request."""

from __future__ import annotations

import json
import logging
from datetime import date

import pytest

from lmx_common.logging import JsonFormatter
from tests.conftest import assert_problem
from tests.support.db import rows
from tests.support.registrations import make_registration

BOTH = ("registry:read", "registry:write")


async def log_of(stack, registration_id: str) -> list[dict]:
    return await rows(
        stack.database_urls["registry"],
        "SELECT action, client_id, organisation_oin, activity, trace_id FROM processing_log "
        "WHERE registration_id = :id ORDER BY id",
        id=registration_id,
    )


@pytest.fixture
async def municipality(stack, http):
    token = await stack.client_token(http, scopes=BOTH, municipality_code="GM0840")  # Rucphen
    return {"Authorization": f"Bearer {token}"}


async def test_every_processing_writes_one_record_per_subject(stack, http, municipality):
    api = stack.gateway + "/registry/v1"
    body = make_registration(**{"residence.municipalityCode": "GM0840"})
    created = await http.post(api + "/registrations", json=body, headers=municipality)
    registration_id = created.json()["id"]
    assert [r["action"] for r in await log_of(stack, registration_id)] == ["create"]

    await http.get(api + f"/registrations/{registration_id}", headers=municipality)
    await http.patch(
        api + f"/registrations/{registration_id}",
        content=json.dumps({"expectedEndDate": "2031-01-01"}),
        headers=municipality | {"Content-Type": "application/merge-patch+json", "If-Match": '"1"'},
    )
    await http.get(api + "/registrations?residenceMunicipalityCode=GM0840&pageSize=500", headers=municipality)
    await http.post(api + "/registrations/search", json={"bsn": body["person"]["bsn"]}, headers=municipality)
    await http.post(
        api + f"/registrations/{registration_id}/departure",
        headers=municipality,
        json={
            "date": date.today().isoformat(),
            "reason": "returned-home",
            "destination": {"type": "abroad", "countryCode": "PL"},
        },
    )
    records = await log_of(stack, registration_id)
    assert [r["action"] for r in records] == ["create", "read", "update", "list", "search", "depart"]
    assert {r["activity"] for r in records} == {"lmx-registration"}  # what the municipality named
    assert len({r["trace_id"] for r in records}) == 6  # each its own request's trace

    # Failed requests leave nothing: stale If-Match, invalid patch, a second departure.
    await http.patch(
        api + f"/registrations/{registration_id}",
        content=json.dumps({"expectedEndDate": "2032-01-01"}),
        headers=municipality | {"Content-Type": "application/merge-patch+json", "If-Match": '"1"'},
    )
    await http.patch(
        api + f"/registrations/{registration_id}",
        content=json.dumps({"arrivalDate": "nope"}),
        headers=municipality | {"Content-Type": "application/merge-patch+json", "If-Match": '"3"'},
    )
    await http.post(
        api + f"/registrations/{registration_id}/departure",
        headers=municipality,
        json={"date": date.today().isoformat(), "reason": "other", "destination": {"type": "unknown"}},
    )
    assert len(await log_of(stack, registration_id)) == 6


async def test_a_list_logs_each_subject_on_the_page_once(stack, http, municipality):
    api = stack.gateway + "/registry/v1"
    token = await stack.client_token(http, scopes=BOTH, municipality_code="GM0851")  # Steenbergen
    headers = {"Authorization": f"Bearer {token}"}
    ids = []
    for _ in range(4):
        body = make_registration(**{"residence.municipalityCode": "GM0851"})
        ids.append((await http.post(api + "/registrations", json=body, headers=headers)).json()["id"])
    page = await http.get(api + "/registrations?residenceMunicipalityCode=GM0851&pageSize=2", headers=headers)
    on_page = [item["id"] for item in page.json()["items"]]
    assert len(on_page) == 2
    for registration_id in ids:
        listed = [r for r in await log_of(stack, registration_id) if r["action"] == "list"]
        assert len(listed) == (1 if registration_id in on_page else 0)


async def test_the_log_answers_who_saw_this_person(stack, http, municipality):
    api = stack.gateway + "/registry/v1"
    mip = await stack.client_token(http, org_type="information-point", scopes=BOTH)
    mip_headers = {"Authorization": f"Bearer {mip}"}
    body = make_registration(**{"residence.municipalityCode": "GM0840", "work.municipalityCode": "GM1709"})
    registration_id = (await http.post(api + "/registrations", json=body, headers=mip_headers)).json()["id"]
    await http.get(api + f"/registrations/{registration_id}", headers=municipality)
    auditor = await stack.client_token(http, org_type="national", scopes=("audit:read",))

    answer = await http.get(
        api + f"/processing-log?registrationId={registration_id}", headers={"Authorization": f"Bearer {auditor}"}
    )
    assert answer.status_code == 200, answer.text
    entries = answer.json()["items"]
    # Reading the log is itself logged, before the page is read.
    assert [(e["action"], e["organisationOin"] != "") for e in entries] == [
        ("create", True),
        ("read", True),
        ("log-read", True),
    ]
    assert [e["activity"] for e in entries] == ["lmx-information-point", "lmx-registration", "lmx-accountability"]
    assert entries[0]["purpose"] and entries[0]["occurredAt"].endswith("Z")
    assert entries[0]["purpose"] != entries[1]["purpose"]  # the information point's own purpose
    assert len({e["clientId"] for e in entries}) == 3
    # The municipality concerned may ask too.
    own = await http.get(api + f"/processing-log?registrationId={registration_id}", headers=municipality)
    assert own.status_code == 200
    assert [e["action"] for e in own.json()["items"]] == ["create", "read", "log-read", "log-read"]

    unfiltered = await http.get(api + "/processing-log", headers={"Authorization": f"Bearer {auditor}"})
    assert assert_problem(unfiltered, 400)["invalidParams"][0]["name"] == "registrationId"


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter("capture"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def test_no_bsn_or_name_in_any_log_line_or_url(stack, http, municipality):
    api = stack.gateway + "/registry/v1"
    capture = Capture()
    root = logging.getLogger()
    root.addHandler(capture)
    previous = root.level
    root.setLevel(logging.DEBUG)
    urls: list[str] = []

    async def record(request):
        urls.append(str(request.url))

    http.event_hooks["request"].append(record)
    body = make_registration(**{"residence.municipalityCode": "GM0840", "person.surname": "Zyxwvutsrq"})
    bsn = body["person"]["bsn"]
    try:
        created = await http.post(api + "/registrations", json=body, headers=municipality)
        registration_id = created.json()["id"]
        await http.get(api + f"/registrations/{registration_id}", headers=municipality)
        await http.post(api + "/registrations/search", json={"bsn": bsn}, headers=municipality)
        await http.post(api + "/registrations", json=body, headers=municipality)  # 409 duplicate
        await http.post(
            api + "/registrations", json=make_registration(**{"person.bsn": bsn[:8] + "0"}), headers=municipality
        )  # 400
        await http.post(
            api + "/registrations/bulk",
            content=json.dumps(make_registration(**{"person.bsn": bsn})),
            headers=municipality | {"Content-Type": "application/x-ndjson"},
        )
        await http.post(
            api + f"/registrations/{registration_id}/departure",
            headers=municipality,
            json={"date": date.today().isoformat(), "reason": "job-lost", "destination": {"type": "unknown"}},
        )
    finally:
        root.removeHandler(capture)
        root.setLevel(previous)
    assert len(capture.lines) >= 7
    for line in capture.lines:
        assert bsn not in line and "Zyxwvutsrq" not in line, line
    assert urls and all(bsn not in url and "Zyxwvutsrq" not in url for url in urls)
