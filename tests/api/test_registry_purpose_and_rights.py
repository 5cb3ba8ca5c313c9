"""Purpose binding, disclosures, minimisation and the data subject's rights (docs/privacy.md)."""

from __future__ import annotations

import json
from datetime import date

import httpx
import pytest

from tests.conftest import assert_problem
from tests.support.db import rows, scalar
from tests.support.registrations import ACTIVITY_HEADER, make_registration

BOTH = ("registry:read", "registry:write")
PERSONAL = {"bsn", "dateOfBirth", "contact"}
ADDRESS = {"postcode", "houseNumber"}


def api(stack) -> str:
    return stack.gateway + "/registry/v1"


async def party(stack, http, org_type="municipality", scopes=BOTH, **kwargs) -> dict[str, str]:
    token = await stack.client_token(http, org_type=org_type, scopes=scopes, **kwargs)
    return {"Authorization": f"Bearer {token}"}


async def log_of(stack, registration_id: str) -> list[dict]:
    return await rows(
        stack.database_urls["registry"],
        "SELECT action, activity, client_id, organisation_oin FROM processing_log "
        "WHERE registration_id = :id ORDER BY id",
        id=registration_id,
    )


async def register(stack, http, headers, **overrides) -> tuple[dict, str]:
    body = make_registration(**overrides)
    created = await http.post(api(stack) + "/registrations", json=body, headers=headers)
    assert created.status_code == 201, created.text
    return body, created.json()["id"]


# 3. Purpose binding.


async def test_a_person_level_request_without_an_activity_is_refused_and_writes_nothing(stack, http):
    halderberge = await party(stack, http, municipality_code="GM1655")
    _, registration_id = await register(stack, http, halderberge)
    async with httpx.AsyncClient(timeout=15) as bare:  # no default activity
        for response in (
            await bare.get(api(stack) + f"/registrations/{registration_id}", headers=halderberge),
            await bare.get(api(stack) + "/registrations", headers=halderberge),
            await bare.post(api(stack) + "/registrations/search", json={"bsn": "111222333"}, headers=halderberge),
            await bare.post(api(stack) + "/registrations", json=make_registration(), headers=halderberge),
            await bare.get(api(stack) + f"/processing-log?registrationId={registration_id}", headers=halderberge),
        ):
            problem = assert_problem(response, 403, "processing-activity-required")
            assert ACTIVITY_HEADER in problem["detail"]
        # Statistics and reference data are not person-level: no activity needed.
        assert (await bare.get(api(stack) + "/municipalities/GM1655", headers=halderberge)).status_code == 200
        statistics = await party(stack, http, scopes=("registry:statistics",), municipality_code="GM1655")
        assert (await bare.get(api(stack) + "/statistics/municipalities", headers=statistics)).status_code == 200
    assert [r["action"] for r in await log_of(stack, registration_id)] == ["create"]


async def test_an_unknown_or_unfitting_activity_is_refused(stack, http):
    halderberge = await party(stack, http, municipality_code="GM1655")
    mip = await party(stack, http, org_type="information-point")
    _, registration_id = await register(stack, http, mip)
    url = api(stack) + f"/registrations/{registration_id}"
    cases = [
        (halderberge, "lmx-nonsense", "GET"),  # not in the register (and not echoed back)
        (halderberge, "lmx-retention", "GET"),  # the registry's own, no caller may name it
        (mip, "lmx-registration", "GET"),  # a municipality's activity
        (halderberge, "lmx-consultation", "PATCH"),  # consulting changes nothing
    ]
    for headers, activity, method in cases:
        extra = {ACTIVITY_HEADER: activity}
        if method == "PATCH":
            extra |= {"Content-Type": "application/merge-patch+json", "If-Match": '"1"'}
        response = await http.request(method, url, headers=headers | extra, content=b"{}")
        problem = assert_problem(response, 403, "processing-activity-not-allowed")
        assert "nonsense" not in problem["detail"]
    consulting = {"Authorization": halderberge["Authorization"], ACTIVITY_HEADER: "lmx-consultation"}
    created = await http.post(api(stack) + "/registrations", json=make_registration(), headers=consulting)
    assert_problem(created, 403, "processing-activity-not-allowed")


async def test_the_log_records_the_activity_each_party_named(stack, http):
    """Through the gateway (which forwards the header): an information point's read is logged with the
    information point's purpose, not the municipality's."""
    mip = await party(stack, http, org_type="information-point")
    halderberge = await party(stack, http, municipality_code="GM1655")
    _, registration_id = await register(stack, http, mip)
    await http.get(api(stack) + f"/registrations/{registration_id}", headers=mip)
    consult = halderberge | {ACTIVITY_HEADER: "lmx-consultation"}
    assert (await http.get(api(stack) + f"/registrations/{registration_id}", headers=consult)).status_code == 200
    assert [(r["action"], r["activity"]) for r in await log_of(stack, registration_id)] == [
        ("create", "lmx-information-point"),
        ("read", "lmx-information-point"),
        ("read", "lmx-consultation"),
    ]


# 4. No unlogged disclosures.


async def test_the_duplicate_check_says_only_that_one_exists_and_is_logged(stack, http):
    halderberge = await party(stack, http, municipality_code="GM1655")
    mip = await party(stack, http, org_type="information-point")
    body, registration_id = await register(stack, http, halderberge)
    again = make_registration(**{"person.bsn": body["person"]["bsn"], "residence.municipalityCode": "GM0758"})
    refused = await http.post(api(stack) + "/registrations", json=again, headers=mip)
    problem = assert_problem(refused, 409, "conflict")
    assert registration_id not in refused.text and "GM1655" not in refused.text and "GM1709" not in refused.text
    assert set(problem) == {"type", "title", "status", "detail", "instance"}
    records = await log_of(stack, registration_id)
    assert [(r["action"], r["activity"]) for r in records] == [
        ("create", "lmx-registration"),
        ("duplicate-check", "lmx-information-point"),
    ]
    assert records[0]["client_id"] != records[1]["client_id"]
    # The refused registration itself was not written.
    count = await scalar(
        stack.database_urls["registry"],
        "SELECT count(*) FROM registrations WHERE residence_municipality_code = 'GM0758' AND created_by_oin = :oin",
        oin=records[1]["organisation_oin"],
    )
    assert count == 0


async def test_a_municipality_keeps_the_log_of_its_period_after_the_person_moves(stack, http):
    mip = await party(stack, http, org_type="information-point")
    steenbergen = await party(stack, http, municipality_code="GM0851")
    woensdrecht = await party(stack, http, municipality_code="GM0873")
    _, registration_id = await register(
        stack, http, mip, **{"residence.municipalityCode": "GM0851", "work.municipalityCode": "GM0851"}
    )
    url = api(stack) + f"/registrations/{registration_id}"
    assert (await http.get(url, headers=steenbergen)).status_code == 200
    moved = await http.patch(
        url,
        content=json.dumps({"residence": {"municipalityCode": "GM0873"}, "work": {"municipalityCode": "GM0873"}}),
        headers=mip | {"Content-Type": "application/merge-patch+json", "If-Match": '"1"'},
    )
    assert moved.status_code == 200, moved.text
    assert (await http.get(url, headers=woensdrecht)).status_code == 200
    assert_problem(await http.get(url, headers=steenbergen), 404)  # the registration: no longer

    def actions(answer) -> list[tuple[str, str]]:
        assert answer.status_code == 200, answer.text
        return [(e["action"], e["clientId"]) for e in answer.json()["items"]]

    log_url = api(stack) + f"/processing-log?registrationId={registration_id}"
    own = actions(await http.get(log_url, headers=steenbergen))
    # Its period: the create and its own read; not Woensdrecht's read after the move; its log-read.
    assert [a for a, _ in own] == ["create", "read", "log-read"]
    new = actions(await http.get(log_url, headers=woensdrecht))
    # Its period runs from the move: the update, its read, and every log-read since (Steenbergen's too).
    assert [a for a, _ in new] == ["update", "read", "log-read", "log-read"]
    # Unrelated municipalities: nothing at all.
    breda = await party(stack, http, municipality_code="GM0758")
    assert_problem(await http.get(log_url, headers=breda), 404)
    periods = await rows(
        stack.database_urls["registry"],
        "SELECT work_municipality_code, residence_municipality_code FROM registration_periods "
        "WHERE registration_id = :id",
        id=registration_id,
    )
    assert periods == [{"work_municipality_code": "GM0851", "residence_municipality_code": "GM0851"}]


# 5. Minimisation.


async def test_lists_and_searches_answer_a_summary_unless_an_entitled_party_asks_for_full(stack, http):
    halderberge = await party(stack, http, municipality_code="GM1655")
    province = await party(
        stack, http, org_type="province", province_code="PV30", scopes=("registry:read", "registry:person-level")
    )
    body, registration_id = await register(stack, http, halderberge)
    bsn = {"bsn": body["person"]["bsn"]}
    for headers in (halderberge, province):
        found = await http.post(api(stack) + "/registrations/search", json=bsn, headers=headers)
        item = found.json()["items"][0]
        assert item["id"] == registration_id
        assert not PERSONAL & set(item["person"]) and not ADDRESS & set(item["residence"])
        assert item["person"]["surname"] == "Kowalska" and item["residence"]["municipalityCode"] == "GM1655"
        assert body["person"]["bsn"] not in found.text
        listed = await http.get(api(stack) + "/registrations?residenceMunicipalityCode=GM1655", headers=headers)
        assert listed.status_code == 200
        assert all(not PERSONAL & set(i["person"]) for i in listed.json()["items"])

    full = await http.post(api(stack) + "/registrations/search?fields=full", json=bsn, headers=halderberge)
    assert full.json()["items"][0]["person"]["bsn"] == body["person"]["bsn"]
    listed = await http.get(api(stack) + "/registrations?fields=full&pageSize=1", headers=halderberge)
    assert {"bsn", "dateOfBirth"} <= set(listed.json()["items"][0]["person"])
    # A province with person-level access: summaries only, but the one registration in full.
    assert_problem(await http.post(api(stack) + "/registrations/search?fields=full", json=bsn, headers=province), 403)
    assert_problem(await http.get(api(stack) + "/registrations?fields=full", headers=province), 403)
    one = await http.get(api(stack) + f"/registrations/{registration_id}", headers=province)
    assert one.json()["person"]["bsn"] == body["person"]["bsn"]
    assert_problem(await http.get(api(stack) + "/registrations?fields=everything", headers=halderberge), 400)


# 6. The data subject's rights.


async def test_a_subject_access_request_exports_everything_for_the_municipality_concerned(stack, http):
    halderberge = await party(stack, http, municipality_code="GM1655")
    body, first = await register(stack, http, halderberge)
    departure = {"date": date.today().isoformat(), "reason": "job-lost", "destination": {"type": "unknown"}}
    assert (
        await http.post(api(stack) + f"/registrations/{first}/departure", json=departure, headers=halderberge)
    ).is_success
    _, second = await register(stack, http, halderberge, **{"person.bsn": body["person"]["bsn"]})
    request = {"bsn": body["person"]["bsn"]}

    export = await http.post(api(stack) + "/subject-access-requests", json=request, headers=halderberge)
    assert export.status_code == 200, export.text
    assert export.headers["cache-control"] == "no-store"
    answer = export.json()
    assert [r["registration"]["id"] for r in answer["registrations"]] == [first, second]
    one = answer["registrations"][0]
    assert one["registration"]["person"]["bsn"] == body["person"]["bsn"]
    assert one["periods"][-1]["validTo"] is None
    assert [e["action"] for e in one["processingLog"]] == ["create", "depart", "export"]
    assert {e["activity"] for e in one["processingLog"]} == {"lmx-registration", "lmx-subject-rights"}
    assert all(e["purpose"] for e in one["processingLog"])

    breda = await party(stack, http, municipality_code="GM0758")
    assert_problem(await http.post(api(stack) + "/subject-access-requests", json=request, headers=breda), 404)
    mip = await party(stack, http, org_type="information-point")
    refused = await http.post(api(stack) + "/subject-access-requests", json=request, headers=mip)
    assert_problem(refused, 403, "processing-activity-not-allowed")


async def test_erasure_empties_the_personal_fields_now_and_keeps_the_statistics(stack, http):
    halderberge = await party(stack, http, municipality_code="GM1655")
    body, registration_id = await register(
        stack, http, halderberge, **{"residence.municipalityCode": "GM1655", "work.municipalityCode": "GM0777"}
    )
    counts = (
        "SELECT active FROM registration_active_counts WHERE work_municipality_code = 'GM0777' AND "
        "residence_municipality_code = 'GM1655'"
    )
    before = await scalar(stack.database_urls["registry"], counts)
    url = api(stack) + f"/registrations/{registration_id}/erasure"
    assert_problem(await http.post(url, json={"reason": "because"}, headers=halderberge), 400)
    erased = await http.post(url, json={"reason": "consent-withdrawn"}, headers=halderberge)
    assert erased.status_code == 200, erased.text
    person = erased.json()["person"]
    assert person["bsn"] is None and person["surname"] is None and person["contact"] is None
    assert erased.json()["residence"]["postcode"] is None and erased.json()["anonymised"] is True
    assert erased.json()["status"] == "active" and erased.json()["residence"]["municipalityCode"] == "GM1655"
    assert await scalar(stack.database_urls["registry"], counts) == before
    stored = (
        await rows(
            stack.database_urls["registry"],
            "SELECT bsn_pseudonym, bsn_encrypted, erasure_reason FROM registrations WHERE id = :id",
            id=registration_id,
        )
    )[0]
    assert stored == {"bsn_pseudonym": None, "bsn_encrypted": None, "erasure_reason": "consent-withdrawn"}
    assert_problem(await http.post(url, json={"reason": "objection"}, headers=halderberge), 409)
    assert [r["action"] for r in await log_of(stack, registration_id)] == ["create", "erase"]
    # The person may be registered again.
    await register(stack, http, halderberge, **{"person.bsn": body["person"]["bsn"]})


async def test_restriction_hides_the_registration_except_to_answer_the_request(stack, http):
    halderberge = await party(stack, http, municipality_code="GM1655")
    mip = await party(stack, http, org_type="information-point")
    body, registration_id = await register(stack, http, mip)
    url = api(stack) + f"/registrations/{registration_id}"
    rights = halderberge | {ACTIVITY_HEADER: "lmx-subject-rights"}
    bsn = {"bsn": body["person"]["bsn"]}
    assert_problem(await http.post(url + "/restriction", json={"reason": "accuracy-contested"}, headers=mip), 403)
    restricted = await http.post(url + "/restriction", json={"reason": "accuracy-contested"}, headers=halderberge)
    assert restricted.status_code == 200 and restricted.json()["restricted"] is True
    assert_problem(await http.post(url + "/restriction", json={"reason": "legal-claims"}, headers=halderberge), 409)

    # No longer shown or processed: not to the registrar, not to the municipality's daily work.
    for headers in (mip, halderberge):
        assert_problem(await http.get(url, headers=headers), 404)
        found = await http.post(api(stack) + "/registrations/search", json=bsn, headers=headers)
        assert found.json()["items"] == []
    # Still counted: statistics are unchanged by a restriction.
    assert (
        await scalar(
            stack.database_urls["registry"],
            "SELECT count(*) FROM registrations WHERE id = :id AND status = 'active'",
            id=registration_id,
        )
        == 1
    )
    # The municipality concerned, answering the request: read, correct, lift.
    assert (await http.get(url, headers=rights)).json()["restricted"] is True
    corrected = await http.patch(
        url,
        content=json.dumps({"person": {"surname": "Kowalczyk"}}),
        headers=rights | {"Content-Type": "application/merge-patch+json", "If-Match": '"2"'},
    )
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["person"]["surname"] == "Kowalczyk"
    lifted = await http.delete(url + "/restriction", headers=halderberge)
    assert lifted.status_code == 200 and lifted.json()["restricted"] is False
    assert (await http.get(url, headers=mip)).status_code == 200
    assert [(r["action"], r["activity"]) for r in await log_of(stack, registration_id)][1:] == [
        ("restrict", "lmx-subject-rights"),
        ("read", "lmx-subject-rights"),
        ("update", "lmx-subject-rights"),
        ("lift-restriction", "lmx-subject-rights"),
        ("read", "lmx-information-point"),
    ]


@pytest.mark.parametrize("path", ["/subject-access-requests", "/registrations/search"])
async def test_no_bsn_in_a_url(stack, http, path):
    """The person is found by BSN in the body only; a query parameter is not read."""
    halderberge = await party(stack, http, municipality_code="GM1655")
    response = await http.post(api(stack) + path + "?bsn=111222333", json={}, headers=halderberge)
    assert_problem(response, 400, "invalid-input")
