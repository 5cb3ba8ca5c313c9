"""The visibility matrix: every party type against every person-level endpoint (BOLA)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from lmx_common.auth import OrganisationType
from services.registry import activities
from tests.conftest import assert_problem
from tests.support.db import rows
from tests.support.registrations import default_activity, make_registration

BOTH = ("registry:read", "registry:write")
# party -> (org type, extra register_client arguments, extra scopes). Every party holds registry:read and
# registry:write here, so the service's own row-level rule is what is tested (the gateway would already
# refuse several of them by scope).
PARTIES = {
    "municipality-of-residence": ("municipality", {"municipality_code": "GM1655"}, ()),
    "municipality-of-work": ("municipality", {"municipality_code": "GM1709"}, ()),
    "other-municipality": ("municipality", {"municipality_code": "GM0758"}, ()),
    "registering-information-point": ("information-point", {}, ()),
    "other-information-point": ("information-point", {}, ()),
    "province": ("province", {"province_code": "PV30"}, ()),
    "national": ("national", {}, ()),
    "inspectorate": ("inspectorate", {}, ()),
    "certifier": ("certifier", {}, ()),
    "service": ("service", {}, ()),
    "national-with-person-level": ("national", {}, ("registry:person-level",)),
    "province-with-person-level": ("province", {"province_code": "PV30"}, ("registry:person-level",)),
    "other-province-with-person-level": ("province", {"province_code": "PV20"}, ("registry:person-level",)),
    "auditor": ("national", {}, ("audit:read",)),
}
SEES = {
    "municipality-of-residence",
    "municipality-of-work",
    "registering-information-point",
    "national-with-person-level",
    "province-with-person-level",
}
READS_LOG = {"municipality-of-residence", "municipality-of-work", "auditor"}
REGISTRARS = {
    "municipality-of-residence",
    "municipality-of-work",
    "other-municipality",
    "registering-information-point",
    "other-information-point",
}


@pytest.fixture(scope="module")
def world():
    return {}


async def headers_for(stack, http, world, party):
    key = (id(stack), party)
    if key not in world:
        org_type, kwargs, extra = PARTIES[party]
        token = await stack.client_token(http, org_type=org_type, scopes=BOTH + extra, **kwargs)
        world[key] = {"Authorization": f"Bearer {token}"}
    return world[key]


async def new_registration(stack, http, world) -> tuple[dict, str]:
    body = make_registration(**{"residence.municipalityCode": "GM1655", "work.municipalityCode": "GM1709"})
    headers = await headers_for(stack, http, world, "registering-information-point")
    response = await http.post(stack.registry + "/v1/registrations", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return body, response.json()["id"]


@pytest.mark.parametrize("party", sorted(PARTIES))
async def test_visibility_matrix(stack, http, world, party):
    body, registration_id = await new_registration(stack, http, world)
    headers = await headers_for(stack, http, world, party)
    base = stack.registry + "/v1"
    url = f"{base}/registrations/{registration_id}"
    visible = party in SEES
    kind = OrganisationType(PARTIES[party][0])

    def allowed(path: str, action: str) -> bool:
        """Whether the activity this party names for the path (the tests' default, as a real client of
        its type would) covers the action; if not, the answer is 403 whatever the row-level rule says."""
        return activities.allowed(kind, default_activity(path, kind.value) or "", action)

    def refused(response) -> bool:
        assert_problem(response, 403, "processing-activity-not-allowed")
        return True

    read = await http.get(url, headers=headers)
    if not allowed(url, "read"):
        refused(read)
    elif visible:
        assert read.status_code == 200 and read.json()["person"]["bsn"] == body["person"]["bsn"]
    else:
        assert_problem(read, 404, "not-found")

    patch = await http.patch(
        url,
        content=json.dumps({"expectedEndDate": "2030-01-01"}),
        headers=headers | {"Content-Type": "application/merge-patch+json", "If-Match": '"1"'},
    )
    changed = allowed(url, "update") and visible
    if not allowed(url, "update"):
        refused(patch)
    else:
        assert patch.status_code == 200 if visible else assert_problem(patch, 404)

    list_url = f"{base}/registrations?pageSize=500&residenceMunicipalityCode=GM1655&status=active"
    listed = await http.get(list_url, headers=headers)
    if not allowed(list_url, "list"):
        refused(listed)
    else:
        assert listed.status_code == 200
        ids = {item["id"] for item in listed.json()["items"]}
        assert (registration_id in ids) == visible or len(ids) == 500

    found = await http.post(f"{base}/registrations/search", json={"bsn": body["person"]["bsn"]}, headers=headers)
    if not allowed(f"{base}/registrations/search", "search"):
        refused(found)
    else:
        assert [r["id"] for r in found.json()["items"]] == ([registration_id] if visible else [])

    log_url = f"{base}/processing-log?registrationId={registration_id}"
    log = await http.get(log_url, headers=headers)
    if not allowed(log_url, "log-read"):
        refused(log)
    else:
        assert log.status_code == 200 if party in READS_LOG else assert_problem(log, 404)

    departure = {"date": date.today().isoformat(), "reason": "job-lost", "destination": {"type": "unknown"}}
    departed = await http.post(url + "/departure", json=departure, headers=headers)
    if not allowed(url + "/departure", "depart"):
        refused(departed)
    else:
        assert departed.status_code == 200 if visible else assert_problem(departed, 404)
        changed = changed or visible

    create = await http.post(f"{base}/registrations", json=make_registration(), headers=headers)
    if party in REGISTRARS:
        # Municipalities register only people who live or work in them; this body: GM1655 and GM1709.
        expected = 403 if party == "other-municipality" else 201
        assert create.status_code == expected, create.text
    elif not allowed(f"{base}/registrations", "create"):
        refused(create)
    else:
        assert_problem(create, 403, "forbidden")

    # Nothing was written for the parties that saw nothing, or named an activity that covers no change.
    if not changed:
        stored = await rows(
            stack.database_urls["registry"],
            "SELECT status, version FROM registrations WHERE id = :id",
            id=registration_id,
        )
        assert stored == [{"status": "active", "version": 1}]


async def test_an_id_sweep_by_another_municipality_finds_nothing(stack, http, world):
    for _ in range(3):
        await new_registration(stack, http, world)
    ids = [
        r["id"]
        for r in await rows(
            stack.database_urls["registry"],
            "SELECT id FROM registrations WHERE residence_municipality_code <> 'GM0758' "
            "AND work_municipality_code <> 'GM0758' LIMIT 40",
        )
    ]
    assert len(ids) >= 3
    headers = await headers_for(stack, http, world, "other-municipality")
    for registration_id in ids:
        response = await http.get(f"{stack.gateway}/registry/v1/registrations/{registration_id}", headers=headers)
        assert_problem(response, 404, "not-found")
        assert response.json()["detail"] == "No registration with this id."  # same words as for a missing id
