"""Abuse reports: visibility for every party type, the follow-up workflow, counts for outsiders."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import assert_problem
from tests.support.certification import Api, api, kvk

REPORT = {"category": "overcrowding", "description": "Twelve people in a four-bed house.", "observedOn": "2026-11-01"}


async def _file(stack, http, **overrides) -> tuple[Api, dict]:
    reporter = await api(
        stack, http, fresh=True, org_type="information-point", scopes=("reports:write",), municipality_code="GM0758"
    )
    body = {"kvkNumber": kvk(), "municipalityCode": "GM1655"} | REPORT | overrides
    response = await reporter.post("/v1/reports", body)
    assert response.status_code == 201, response.text
    return reporter, response.json()


PARTIES: dict[str, tuple[dict[str, Any], bool]] = {
    # name: (client kwargs, sees details)
    "municipality-concerned": (dict(org_type="municipality", municipality_code="GM1655"), True),
    "other-municipality": (dict(org_type="municipality", municipality_code="GM0758"), False),
    "other-information-point": (dict(org_type="information-point", municipality_code="GM1655"), False),
    "province": (dict(org_type="province", province_code="PV30"), False),
    "national": (dict(org_type="national"), False),
    "inspectorate": (dict(org_type="inspectorate"), True),
    "certifier": (dict(org_type="certifier"), True),
    "service": (dict(org_type="service"), False),
}


@pytest.mark.parametrize("party", list(PARTIES))
async def test_report_details_are_visible_only_to_those_concerned(stack, http, party):
    reporter, report = await _file(stack, http)
    kwargs, sees = PARTIES[party]
    caller = await api(stack, http, scopes=("reports:read", "certification:read"), **kwargs)
    detail = await caller.get(f"/v1/reports/{report['id']}")
    listed = await caller.get(f"/v1/reports?kvkNumber={report['kvkNumber']}")
    summary = await caller.get(f"/v1/organisations/{report['kvkNumber']}/report-summary")
    assert listed.status_code == 200
    if sees:
        assert detail.status_code == 200, detail.text
        assert detail.json()["description"] == REPORT["description"]
        assert [r["id"] for r in listed.json()["items"]] == [report["id"]]
    else:
        body = assert_problem(detail, 404, "not-found")
        assert REPORT["description"] not in detail.text and body["detail"]
        assert listed.json()["items"] == []
    # Everyone with access gets the counts, and nothing else.
    assert summary.status_code == 200
    assert summary.json() == {
        "kvkNumber": report["kvkNumber"],
        "total": 1,
        "open": 1,
        "byCategory": [{"category": "overcrowding", "count": 1}],
        "byStatus": [{"status": "received", "count": 1}],
    }
    # The reporter always sees its own report.
    assert (await reporter.get(f"/v1/reports/{report['id']}")).status_code == 200


async def test_visibility_holds_through_the_gateway(stack, http):
    _, report = await _file(stack, http)
    base = stack.gateway + "/certification"
    province = await api(stack, http, base, org_type="province", province_code="PV30", scopes=("certification:read",))
    assert_problem(await province.get(f"/v1/reports/{report['id']}"), 403)  # no reports scope at all
    summary = await province.get(f"/v1/organisations/{report['kvkNumber']}/report-summary")
    assert summary.status_code == 200 and summary.json()["total"] == 1
    halderberge = await api(stack, http, base, scopes=("reports:read",), municipality_code="GM1655")
    detail = await halderberge.get(f"/v1/reports/{report['id']}")
    assert detail.status_code == 200 and detail.json()["municipalityCode"] == "GM1655"


async def test_follow_up_workflow_with_dated_notes(stack, http):
    reporter, report = await _file(stack, http)
    inspectorate = await api(stack, http, org_type="inspectorate", scopes=("reports:read", "reports:write"))
    municipality = await api(
        stack, http, org_type="municipality", municipality_code="GM1655", scopes=("reports:read", "reports:write")
    )
    path = f"/v1/reports/{report['id']}/notes"
    # The reporter (an information point) does not act on reports.
    assert_problem(await reporter.post(path, {"note": "any news?"}), 403, "forbidden")
    skip = await inspectorate.post(path, {"note": "done", "status": "resolved"})
    body = assert_problem(skip, 409, "conflict")
    assert body["allowedStatuses"] == ["investigating"]
    step = await inspectorate.post(path, {"note": "Visit planned.", "status": "investigating", "date": "2026-11-20"})
    assert step.status_code == 201, step.text
    note_only = await municipality.post(path, {"note": "Housing inspector joins the visit."})
    assert note_only.status_code == 201 and note_only.json()["status"] == "investigating"
    done = await municipality.post(path, {"note": "Referred to the inspectorate's team.", "status": "referred"})
    assert done.json()["status"] == "referred"
    final = await inspectorate.post(path, {"note": "reopen", "status": "investigating"})
    assert assert_problem(final, 409)["allowedStatuses"] == []
    notes = (await reporter.get(f"/v1/reports/{report['id']}")).json()["notes"]
    assert [(n["fromStatus"], n["status"]) for n in notes] == [
        ("received", "investigating"),
        (None, None),
        ("investigating", "referred"),
    ]
    assert notes[0]["date"] == "2026-11-20" and notes[0]["by"]["organisationType"] == "inspectorate"
    assert notes[2]["by"]["organisationType"] == "municipality"
    # Another municipality cannot see, so cannot act either.
    other = await api(
        stack, http, org_type="municipality", municipality_code="GM0758", scopes=("reports:read", "reports:write")
    )
    assert_problem(await other.post(path, {"note": "x"}), 404)
    summary = (await other.get(f"/v1/organisations/{report['kvkNumber']}/report-summary")).json()
    assert summary["open"] == 0 and summary["byStatus"] == [{"status": "referred", "count": 1}]


async def test_a_report_needs_an_organisation_or_a_location_and_valid_fields(stack, http):
    reporter = await api(stack, http, org_type="municipality", scopes=("reports:write",))
    response = await reporter.post("/v1/reports", {"municipalityCode": "GM1655"} | REPORT)
    body = assert_problem(response, 400, "invalid-input")
    assert {p["name"] for p in body["invalidParams"]} == {"kvkNumber", "housingLocationId"}
    response = await reporter.post(
        "/v1/reports",
        {"kvkNumber": "1", "municipalityCode": "GM9999", "category": "noise", "description": "", "observedOn": "x"},
    )
    body = assert_problem(response, 400, "invalid-input")
    assert {p["name"] for p in body["invalidParams"]} == {
        "kvkNumber",
        "municipalityCode",
        "category",
        "description",
        "observedOn",
    }
    by_location = await reporter.post(
        "/v1/reports", {"housingLocationId": "HL-42", "municipalityCode": "GM1655"} | REPORT
    )
    assert by_location.status_code == 201 and by_location.json()["kvkNumber"] is None
