"""The visibility matrix: every party type against every person-level endpoint (BOLA)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from tests.conftest import assert_problem
from tests.support.db import rows
from tests.support.registrations import make_registration

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

    read = await http.get(url, headers=headers)
    if visible:
        assert read.status_code == 200 and read.json()["person"]["bsn"] == body["person"]["bsn"]
    else:
        assert_problem(read, 404, "not-found")

    patch = await http.patch(
        url,
        content=json.dumps({"expectedEndDate": "2030-01-01"}),
        headers=headers | {"Content-Type": "application/merge-patch+json", "If-Match": '"1"'},
    )
    assert patch.status_code == 200 if visible else assert_problem(patch, 404)

    listed = await http.get(
        f"{base}/registrations?pageSize=500&residenceMunicipalityCode=GM1655&status=active", headers=headers
    )
    assert listed.status_code == 200
    ids = {item["id"] for item in listed.json()["items"]}
    assert (registration_id in ids) == visible or len(ids) == 500

    found = await http.post(f"{base}/registrations/search", json={"bsn": body["person"]["bsn"]}, headers=headers)
    assert [r["id"] for r in found.json()["items"]] == ([registration_id] if visible else [])

    log = await http.get(f"{base}/processing-log?registrationId={registration_id}", headers=headers)
    assert log.status_code == 200 if party in READS_LOG else assert_problem(log, 404)

    departure = {"date": date.today().isoformat(), "reason": "job-lost", "destination": {"type": "unknown"}}
    departed = await http.post(url + "/departure", json=departure, headers=headers)
    assert departed.status_code == 200 if visible else assert_problem(departed, 404)

    create = await http.post(f"{base}/registrations", json=make_registration(), headers=headers)
    if party in REGISTRARS:
        # Municipalities register only people who live or work in them; this body: GM1655 and GM1709.
        expected = 403 if party == "other-municipality" else 201
        assert create.status_code == expected, create.text
    else:
        assert_problem(create, 403, "forbidden")

    # Nothing was written for the parties that saw nothing.
    if not visible:
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
