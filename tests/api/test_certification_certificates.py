"""Certificates: the status machine, who may change it, the history, expiry and the status lookup."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.certification.rules import CERTIFICATE_TRANSITIONS
from tests.conftest import assert_problem
from tests.support.certification import api, certifier, make_certificate, make_organisation
from tests.support.webhooks import eventually

STATUSES = list(CERTIFICATE_TRANSITIONS)
ALLOWED = [(a, b) for a, targets in CERTIFICATE_TRANSITIONS.items() for b in targets]
FORBIDDEN = [(a, b) for a in STATUSES for b in STATUSES if b not in CERTIFICATE_TRANSITIONS[a]]


async def test_every_allowed_transition_works(stack, http):
    nau = await certifier(stack, http)
    for source, target in ALLOWED:
        certificate = await make_certificate(nau, source)
        response = await nau.post(
            f"/v1/certificates/{certificate['id']}/status-changes", {"status": target, "reason": "test"}
        )
        assert response.status_code == 201, (source, target, response.text)
        assert response.json()["fromStatus"] == source and response.json()["status"] == target
        after = await nau.get(f"/v1/certificates/{certificate['id']}")
        assert after.json()["status"] == target


async def test_every_forbidden_transition_is_a_409_naming_the_allowed_ones(stack, http):
    nau = await certifier(stack, http)
    by_source = {s: await make_certificate(nau, s) for s in STATUSES}
    for source, target in FORBIDDEN:
        certificate = by_source[source]
        response = await nau.post(
            f"/v1/certificates/{certificate['id']}/status-changes", {"status": target, "reason": "test"}
        )
        body = assert_problem(response, 409, "conflict")
        assert body["allowedStatuses"] == list(CERTIFICATE_TRANSITIONS[source]), (source, target)
        assert body["currentStatus"] == source
        for allowed in CERTIFICATE_TRANSITIONS[source]:
            assert allowed in body["detail"]
        unchanged = await nau.get(f"/v1/certificates/{certificate['id']}")
        assert unchanged.json()["status"] == source


@pytest.mark.parametrize(
    "org_type", ["municipality", "inspectorate", "province", "national", "service", "information-point"]
)
async def test_only_certifiers_change_status(stack, http, org_type):
    nau = await certifier(stack, http)
    certificate = await make_certificate(nau, "granted")
    # Even with the write scope, an organisation that is not a certifier is refused.
    extra: dict[str, Any] = {"province_code": "PV30"} if org_type == "province" else {}
    other = await api(stack, http, org_type=org_type, scopes=("certification:read", "certification:write"), **extra)
    response = await other.post(
        f"/v1/certificates/{certificate['id']}/status-changes", {"status": "revoked", "reason": "not mine"}
    )
    assert_problem(response, 403, "forbidden")
    reader = await api(stack, http, org_type="certifier", scopes=("certification:read",))
    assert_problem(
        await reader.post(f"/v1/certificates/{certificate['id']}/status-changes", {"status": "revoked", "reason": "x"}),
        403,
    )
    history = (await nau.get(f"/v1/certificates/{certificate['id']}/status-changes")).json()["items"]
    assert [h["status"] for h in history] == ["applied", "granted"]


async def test_another_certifier_may_not_change_a_certificate_it_did_not_issue(stack, http):
    nau = await certifier(stack, http)
    sna = await certifier(stack, http, fresh=True)
    certificate = await make_certificate(nau, "granted")
    response = await sna.post(
        f"/v1/certificates/{certificate['id']}/status-changes", {"status": "revoked", "reason": "x"}
    )
    assert_problem(response, 403, "forbidden")


async def test_history_is_complete_and_append_only(stack, http):
    nau = await certifier(stack, http)
    certificate = await make_certificate(nau, "applied", appliedOn="2026-01-20")
    steps = [("provisional", "2026-02-01"), ("granted", "2026-03-01"), ("suspended", "2026-04-01")]
    seen: list[dict] = []
    for status, effective in steps:
        response = await nau.post(
            f"/v1/certificates/{certificate['id']}/status-changes",
            {"status": status, "reason": f"because {status}", "effectiveDate": effective},
        )
        assert response.status_code == 201, response.text
        history = (await nau.get(f"/v1/certificates/{certificate['id']}/status-changes")).json()["items"]
        assert history[: len(seen)] == seen  # earlier entries never change
        seen = history
    assert [(h["fromStatus"], h["status"]) for h in seen] == [
        (None, "applied"),
        ("applied", "provisional"),
        ("provisional", "granted"),
        ("granted", "suspended"),
    ]
    assert [h["effectiveDate"] for h in seen[1:]] == [e for _, e in steps]
    assert seen[2]["reason"] == "because granted"
    for entry in seen:
        assert entry["changedBy"]["organisationType"] == "certifier"
        assert entry["changedBy"]["clientId"].startswith("test-")
        assert len(entry["changedBy"]["organisationOin"]) == 20
        assert entry["recordedAt"].endswith("Z")
    # No route rewrites or deletes history.
    for method in ("PUT", "PATCH", "DELETE"):
        response = await http.request(
            method, stack.certification + f"/v1/certificates/{certificate['id']}/status-changes", headers=nau.headers
        )
        assert_problem(response, 405)
    # Dates go forward only.
    backwards = await nau.post(
        f"/v1/certificates/{certificate['id']}/status-changes",
        {"status": "granted", "reason": "x", "effectiveDate": "2026-01-15"},
    )
    assert_problem(backwards, 400, "invalid-input")


async def test_invalid_input_lists_every_field(stack, http):
    nau = await certifier(stack, http)
    response = await nau.post(
        "/v1/certificates", {"kvkNumber": "123", "scheme": "iso-9001", "validFrom": "someday", "extra": 1}
    )
    body = assert_problem(response, 400, "invalid-input")
    assert {p["name"] for p in body["invalidParams"]} == {"kvkNumber", "scheme", "validFrom", "extra"}
    certificate = await make_certificate(nau, "granted")
    future = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()
    response = await nau.post(
        f"/v1/certificates/{certificate['id']}/status-changes",
        {"status": "nonsense", "reason": "", "effectiveDate": future},
    )
    body = assert_problem(response, 400, "invalid-input")
    assert {p["name"] for p in body["invalidParams"]} == {"status", "reason", "effectiveDate"}
    assert_problem(await nau.get("/v1/organisations/12AB5678/status"), 400, "invalid-input")


async def test_if_match_guards_status_changes(stack, http):
    nau = await certifier(stack, http)
    certificate = await make_certificate(nau, "applied")
    read = await nau.get(f"/v1/certificates/{certificate['id']}")
    etag = read.headers["etag"]
    first = await nau.post(
        f"/v1/certificates/{certificate['id']}/status-changes",
        {"status": "granted", "reason": "ok"},
        headers={"If-Match": etag},
    )
    assert first.status_code == 201 and first.headers["etag"] != etag
    stale = await nau.post(
        f"/v1/certificates/{certificate['id']}/status-changes",
        {"status": "suspended", "reason": "late"},
        headers={"If-Match": etag},
    )
    assert_problem(stale, 412, "precondition-failed")


async def test_expiry_happens_on_its_own_and_emits_an_event(stack, http):
    nau = await certifier(stack, http)
    reader = await api(stack, http, org_type="service", scopes=("certification:read", "events:read"))
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    certificate = await make_certificate(nau, "granted", validFrom="2025-01-01", validUntil=yesterday)

    async def expired():
        response = await reader.get(f"/v1/certificates/{certificate['id']}")
        return response.json()["status"] == "expired"

    await eventually(expired, timeout=10)
    history = (await reader.get(f"/v1/certificates/{certificate['id']}/status-changes")).json()["items"]
    last = history[-1]
    assert (last["fromStatus"], last["status"]) == ("granted", "expired")
    assert last["changedBy"]["organisationType"] == "system" and last["changedBy"]["organisationOin"] is None
    assert last["effectiveDate"] == datetime.now(UTC).date().isoformat()
    events = await _all_events(reader)
    mine = [e for e in events if e["data"].get("certificateId") == certificate["id"]]
    assert [e["data"]["status"] for e in mine] == ["granted", "expired"]
    assert mine[-1]["data"]["changedBy"] == "system" and mine[-1]["type"] == "certificate.status-changed"
    status = (await reader.get(f"/v1/organisations/{certificate['kvkNumber']}/status")).json()
    assert status["maySupplyLabour"] is False


async def _all_events(reader) -> list[dict]:
    events: list[dict] = []
    cursor = ""
    while True:
        page = (await reader.get(f"/v1/events?limit=500&after={cursor}")).json()
        events += page["items"]
        if not page["items"]:
            return events
        cursor = page["next"]


async def test_status_lookup_answers_may_supply_labour_and_housing_today(stack, http):
    nau = await certifier(stack, http)
    number = await make_organisation(nau, ("employment-agency", "landlord"))
    admission = await make_certificate(nau, "granted", kvkNumber=number, validUntil="2030-12-31")
    await make_certificate(nau, "suspended", scheme="snf-housing", kvkNumber=number, housingLocationIds=["HL-1"])
    reader = await api(stack, http, org_type="municipality", scopes=("certification:read",))
    status = (await reader.get(f"/v1/organisations/{number}/status")).json()
    assert status["kvkNumber"] == number and status["date"] == datetime.now(UTC).date().isoformat()
    assert status["maySupplyLabour"] is True and status["maySupplyHousing"] is False
    schemes = {s["scheme"]: s for s in status["schemes"]}
    assert schemes["wtta-admission"]["status"] == "granted" and schemes["wtta-admission"]["validToday"] is True
    assert schemes["wtta-admission"]["until"] == "2030-12-31"
    assert schemes["wtta-admission"]["certificateId"] == admission["id"]
    assert schemes["snf-housing"]["status"] == "suspended" and schemes["snf-housing"]["validToday"] is False
    assert schemes["sna-nen-4400"]["status"] is None
    assert_problem(await reader.get("/v1/organisations/00000000/status"), 404, "not-found")


async def test_concurrent_status_changes_do_not_lose_one(stack, http):
    nau = await certifier(stack, http)
    for _ in range(3):
        certificate = await make_certificate(nau, "granted")
        path = f"/v1/certificates/{certificate['id']}/status-changes"
        responses = await asyncio.gather(
            nau.post(path, {"status": "suspended", "reason": "a"}), nau.post(path, {"status": "ended", "reason": "b"})
        )
        assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
        winner = next(r.json()["status"] for r in responses if r.status_code == 201)
        history = (await nau.get(path)).json()["items"]
        assert [h["status"] for h in history] == ["applied", "granted", winner]
        assert (await nau.get(f"/v1/certificates/{certificate['id']}")).json()["status"] == winner


async def test_an_idempotency_key_makes_creation_and_status_changes_retry_safe(stack, http):
    nau = await certifier(stack, http)
    number = await make_organisation(nau)
    body = {"kvkNumber": number, "scheme": "wtta-admission", "validFrom": "2026-01-01"}
    key = {"Idempotency-Key": f"cert-{number}"}
    first = await nau.post("/v1/certificates", body, headers=key)
    again = await nau.post("/v1/certificates", body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers["location"] == first.headers["location"]
    listed = (await nau.get(f"/v1/certificates?kvkNumber={number}")).json()["items"]
    assert [c["id"] for c in listed] == [first.json()["id"]]
    other = await nau.post("/v1/certificates", body | {"validFrom": "2026-02-01"}, headers=key)
    assert_problem(other, 422, "unprocessable")

    path = f"/v1/certificates/{first.json()['id']}/status-changes"
    change = {"status": "granted", "reason": "ok"}
    granted = await nau.post(path, change, headers={"Idempotency-Key": "grant-1"})
    repeated = await nau.post(path, change, headers={"Idempotency-Key": "grant-1"})
    assert granted.status_code == repeated.status_code == 201 and repeated.json() == granted.json()
    history = (await nau.get(path)).json()["items"]
    assert [h["status"] for h in history] == ["applied", "granted"]  # once, not a 409 the second time
