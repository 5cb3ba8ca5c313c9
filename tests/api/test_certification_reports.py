"""Abuse reports: visibility for every party type, the follow-up workflow, counts for outsiders."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from sqlalchemy import select

from lmx_common.db import Database
from lmx_common.disclosure import KEY_RANGE, PTable, cell_key
from services.certification.models import Report
from services.certification.rules import REPORT_TRANSITIONS
from services.certification.schemas import ReportCategory
from tests.conftest import assert_problem
from tests.support.certification import Api, api, kvk

TABLE = PTable()  # the certification service's default disclosure threshold (5)
CONTROL = {"method": "cell-key", "threshold": TABLE.threshold, "maximumDeviation": TABLE.max_deviation}

REPORT = {"category": "overcrowding", "description": "Twelve people in a four-bed house.", "observedOn": "2026-11-01"}


async def _file(stack, http, **overrides) -> tuple[Api, dict]:
    reporter = await api(
        stack, http, fresh=True, org_type="information-point", scopes=("reports:write",), municipality_code="GM0758"
    )
    body = {"kvkNumber": kvk(), "municipalityCode": "GM1655"} | REPORT | overrides
    response = await reporter.post("/v1/reports", body)
    assert response.status_code == 201, response.text
    return reporter, response.json()


async def record_keys(backend: Any, report_ids: list[str]) -> dict[str, int]:
    """The record keys stored with these reports (never shown through the API)."""
    database = Database(backend.urls["certification"])
    try:
        async with database.sessionmaker() as session:
            rows = await session.execute(select(Report.id, Report.record_key).where(Report.id.in_(report_ids)))
            return {i: int(k) for i, k in rows.all()}
    finally:
        await database.dispose()


def expected_summary(kvk_number: str, reports: list[tuple[str, str, int]], exact: bool) -> dict[str, Any]:
    """The summary by its definition: per cell, the reports' count and the sum of their record keys through
    the ptable (or exact); every category and status listed. ``reports``: (category, status, record key)."""

    def cell(keys: list[int]) -> dict[str, Any]:
        return {"count": len(keys) if exact else TABLE.published(len(keys), cell_key(keys)), "exact": exact}

    def keys(category: str | None = None, statuses: tuple[str, ...] | None = None) -> list[int]:
        return [k for c, s, k in reports if category in (None, c) and (statuses is None or s in statuses)]

    return {
        "kvkNumber": kvk_number,
        "total": cell(keys()),
        "open": cell(keys(statuses=("received", "investigating"))),
        "byCategory": [{"category": c} | cell(keys(c)) for c in sorted(get_args(ReportCategory))],
        "byStatus": [{"status": s} | cell(keys(statuses=(s,))) for s in sorted(REPORT_TRANSITIONS)],
        "disclosureControl": CONTROL,
    }


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
async def test_report_details_are_visible_only_to_those_concerned(stack, http, backend, party):
    reporter, report = await _file(stack, http)
    key = (await record_keys(backend, [report["id"]]))[report["id"]]
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
    # Everyone with access gets the counts, and nothing else: exact for those who may read every report about
    # the organisation (the municipality concerned sees only its own), through the ptable for the others (the
    # one report is published as 0 or 5, never 1).
    exact = kwargs["org_type"] in ("inspectorate", "certifier")
    assert summary.status_code == 200
    assert summary.json() == expected_summary(report["kvkNumber"], [("overcrowding", "received", key)], exact=exact)
    if not exact:
        assert summary.json()["total"]["count"] in (0, TABLE.threshold)
    # The reporter always sees its own report.
    assert (await reporter.get(f"/v1/reports/{report['id']}")).status_code == 200


async def test_visibility_holds_through_the_gateway(stack, http, backend):
    _, report = await _file(stack, http)
    key = (await record_keys(backend, [report["id"]]))[report["id"]]
    base = stack.gateway + "/certification"
    province = await api(stack, http, base, org_type="province", province_code="PV30", scopes=("certification:read",))
    assert_problem(await province.get(f"/v1/reports/{report['id']}"), 403)  # no reports scope at all
    summary = await province.get(f"/v1/organisations/{report['kvkNumber']}/report-summary")
    assert summary.status_code == 200
    assert summary.json()["total"] == {"count": TABLE.published(1, key), "exact": False}
    halderberge = await api(stack, http, base, scopes=("reports:read",), municipality_code="GM1655")
    detail = await halderberge.get(f"/v1/reports/{report['id']}")
    assert detail.status_code == 200 and detail.json()["municipalityCode"] == "GM1655"


async def test_follow_up_workflow_with_dated_notes(stack, http, backend):
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
    key = (await record_keys(backend, [report["id"]]))[report["id"]]
    assert summary == expected_summary(report["kvkNumber"], [("overcrowding", "referred", key)], exact=False)
    assert summary["open"] == {"count": 0, "exact": False}
    exact = (await inspectorate.get(f"/v1/organisations/{report['kvkNumber']}/report-summary")).json()
    assert exact == expected_summary(report["kvkNumber"], [("overcrowding", "referred", key)], exact=True)


async def test_summary_counts_are_perturbed_consistently_for_outsiders(stack, http, backend):
    """Six reports about one organisation: an outsider gets each cell through the ptable with the sum of the
    record keys of its reports; the same answer every time; no count of 1..threshold-1; zero cells 0."""
    number = kvk()
    filed = []
    for category, n in (("overcrowding", 4), ("coercion", 2)):
        for _ in range(n):
            filed.append((await _file(stack, http, kvkNumber=number, category=category))[1])
    inspectorate = await api(stack, http, org_type="inspectorate", scopes=("reports:read", "reports:write"))
    moved = await inspectorate.post(f"/v1/reports/{filed[0]['id']}/notes", {"note": "visit", "status": "investigating"})
    assert moved.status_code == 201, moved.text
    keys = await record_keys(backend, [r["id"] for r in filed])
    assert len(set(keys.values())) == len(filed) and all(0 <= k < KEY_RANGE for k in keys.values())
    reports = [(r["category"], "investigating" if i == 0 else "received", keys[r["id"]]) for i, r in enumerate(filed)]
    province = await api(
        stack, http, org_type="province", province_code="PV30", scopes=("reports:read", "certification:read")
    )
    path = f"/v1/organisations/{number}/report-summary"
    first, again = await province.get(path), await province.get(path)
    assert first.status_code == 200 and first.json() == again.json()
    assert first.json() == expected_summary(number, reports, exact=False)
    published = [first.json()["total"], first.json()["open"]]
    published += first.json()["byCategory"] + first.json()["byStatus"]
    assert all(not 0 < c["count"] < TABLE.threshold for c in published)
    assert {c["category"]: c["count"] for c in first.json()["byCategory"]}["underpayment"] == 0
    exact = (await inspectorate.get(path)).json()
    assert exact == expected_summary(number, reports, exact=True)
    assert exact["total"] == {"count": 6, "exact": True} and exact["open"] == {"count": 6, "exact": True}


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
