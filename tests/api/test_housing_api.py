"""The housing API through the real stack: locations, keys, the fair share from the registry, staleness."""

from __future__ import annotations

import uuid
from contextlib import ExitStack
from typing import Any

import pytest

from lmx_common.db import Database
from lmx_common.disclosure import PTable, cell_key
from services.housing.config import HousingSettings
from services.housing.main import create_app as create_housing
from services.housing.models import Region, RegionMember
from tests.conftest import assert_problem
from tests.support.housing import make_location, record_keys, unique_id
from tests.support.registrations import make_registration
from tests.support.servers import free_port, serve

WRITER = ("housing:read", "housing:write", "fair-share:read")
TABLE = PTable()  # the housing service's and the registry's default parameters
A, B, C = "GM0106", "GM0109", "GM0114"  # Assen, Coevorden, Emmen (Drenthe): no other suite uses them


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def municipality(stack: Any, http: Any, code: str, scopes: tuple[str, ...] = WRITER) -> dict[str, str]:
    return auth(await stack.client_token(http, org_type="municipality", scopes=scopes, municipality_code=code))


async def add_region(backend: Any, members: list[str], factor: float = 0.8) -> str:
    code = f"test-{uuid.uuid4().hex[:10]}"
    database = Database(backend.urls["housing"])
    try:
        async with database.sessionmaker() as session, session.begin():
            session.add(Region(code=code, name="Test region", kind="region", lagging_factor=factor))
            await session.flush()
            session.add_all(RegionMember(region_code=code, municipality_code=m) for m in members)
    finally:
        await database.dispose()
    return code


async def register(stack: Any, http: Any, count: int, work: str, economic_location: str | None = None) -> list[str]:
    """``count`` registrations working (and living) in ``work``; their ids."""
    token = await stack.client_token(http, org_type="information-point", scopes=("registry:write",))
    ids = []
    for _ in range(count):
        body = make_registration(**{"work.municipalityCode": work, "residence.municipalityCode": work})
        if economic_location:
            body["work"]["economicLocationId"] = economic_location
        response = await http.post(stack.gateway + "/registry/v1/registrations", json=body, headers=auth(token))
        assert response.status_code == 201, response.text
        ids.append(str(response.json()["id"]))
    return ids


async def operational(stack: Any, http: Any, headers: dict[str, str], beds: int, status: str = "operational") -> str:
    response = await http.post(
        stack.gateway + "/housing/v1/housing-locations", json=make_location(beds=beds, status=status), headers=headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_a_municipality_manages_its_own_locations_and_others_read(stack, http):
    meppel = await municipality(stack, http, "GM0119")
    other = await municipality(stack, http, "GM0118")
    base = stack.gateway + "/housing/v1/housing-locations"
    body = make_location(beds=30, statusDate="2026-09-01", expectedOpeningDate="2027-05-01")
    created = await http.post(base, json=body, headers=meppel)
    assert created.status_code == 201, created.text
    location = created.json()
    assert location["municipalityCode"] == "GM0119" and location["status"] == "planned"
    assert location["statusDates"]["planned"] and location["atRisk"] is False
    assert created.headers["location"] == f"/housing/v1/housing-locations/{body['id']}"
    assert_problem(await http.post(base, json=body, headers=meppel), 409, "conflict")
    assert_problem(
        await http.post(base, json=make_location(municipalityCode="GM0119"), headers=other), 403, "forbidden"
    )
    url = f"{base}/{body['id']}"
    read = await http.get(url, headers=other)
    assert read.status_code == 200 and read.json()["beds"] == 30
    etag = read.headers["etag"]

    merge = {"content-type": "application/merge-patch+json"}
    assert_problem(await http.patch(url, json={"beds": 40}, headers=other | merge | {"If-Match": etag}), 403)
    assert_problem(await http.patch(url, content=b'{"beds": 40}', headers=meppel | merge), 428)
    bad = await http.patch(url, content=b'{"beds": 0, "kind": "huge"}', headers=meppel | merge | {"If-Match": etag})
    assert {p["name"] for p in assert_problem(bad, 400, "invalid-input")["invalidParams"]} == {"beds", "kind"}
    patched = await http.patch(url, content=b'{"beds": 40}', headers=meppel | merge | {"If-Match": etag})
    assert patched.status_code == 200 and patched.json()["beds"] == 40
    assert_problem(await http.patch(url, content=b'{"beds": 41}', headers=meppel | merge | {"If-Match": etag}), 412)

    steps = f"{url}/status-changes"
    moved = await http.post(steps, json={"status": "under-construction", "date": "2026-10-01"}, headers=meppel)
    assert moved.status_code == 200 and moved.json()["statusDates"]["underConstruction"] == "2026-10-01"
    assert_problem(await http.post(steps, json={"status": "planned"}, headers=meppel), 409, "conflict")
    early = await http.post(steps, json={"status": "operational", "date": "2026-09-01"}, headers=meppel)
    assert_problem(early, 400, "invalid-input")
    assert_problem(await http.post(steps, json={"status": "operational"}, headers=other), 403)

    reports = f"{url}/occupancy-reports"
    assert_problem(await http.post(reports, json={"date": "2026-11-01", "occupiedBeds": 5}, headers=meppel), 409)
    assert (await http.post(steps, json={"status": "operational"}, headers=meppel)).status_code == 200
    too_many = await http.post(reports, json={"date": "2026-11-01", "occupiedBeds": 41}, headers=meppel)
    assert assert_problem(too_many, 400, "invalid-input")["invalidParams"][0]["name"] == "occupiedBeds"
    report = await http.post(reports, json={"date": "2026-11-01", "occupiedBeds": 40}, headers=meppel)
    assert report.status_code == 201 and report.json()["occupiedBeds"] == 40
    assert_problem(await http.post(reports, json={"date": "2026-11-01", "occupiedBeds": 3}, headers=meppel), 409)
    listed = await http.get(f"{base}?municipalityCode=GM0119&status=operational", headers=other)
    assert [i["id"] for i in listed.json()["items"]] == [body["id"]]
    assert listed.json()["items"][0]["latestOccupancy"] == {"date": "2026-11-01", "occupiedBeds": 40}
    assert_problem(await http.get(f"{base}/no-such-location", headers=other), 404, "not-found")
    assert_problem(await http.get(base, headers=await municipality(stack, http, "GM0119", ("fair-share:read",))), 403)


async def test_distribution_keys_must_sum_to_one(stack, http, backend):
    # Not A, B, C alone: a region's report applies the economic locations of every region inside it.
    region = await add_region(backend, [A, B, C, "GM0119"])
    host = await municipality(stack, http, A)
    base = stack.gateway + "/housing/v1/economic-locations"
    body: dict[str, Any] = {
        "id": unique_id("el"),
        "name": "Test park",
        "regionCode": region,
        "hostMunicipalityCode": A,
        "keys": [{"municipalityCode": A, "share": 0.5}, {"municipalityCode": B, "share": 0.4}],
    }
    wrong = assert_problem(await http.post(base, json=body, headers=host), 400, "invalid-input")
    assert [p["name"] for p in wrong["invalidParams"]] == ["keys"]
    outsider = body | {"keys": [{"municipalityCode": "GM0118", "share": 1.0}, {"municipalityCode": A, "share": 0}]}
    assert_problem(await http.post(base, json=outsider, headers=host), 400, "invalid-input")
    body["keys"].append({"municipalityCode": C, "share": 0.1})
    assert_problem(await http.post(base, json=body, headers=await municipality(stack, http, B)), 403)
    created = await http.post(base, json=body, headers=host)
    assert created.status_code == 201, created.text
    keys = f"{base}/{body['id']}/keys"
    replace = {"keys": [{"municipalityCode": A, "share": 0.7}, {"municipalityCode": B, "share": 0.3}]}
    assert_problem(await http.put(keys, json=replace, headers=host), 428)
    etag = {"If-Match": created.headers["etag"]}
    assert_problem(await http.put(keys, json={"keys": replace["keys"][:1]}, headers=host | etag), 400)
    replaced = await http.put(keys, json=replace, headers=host | etag)
    assert replaced.status_code == 200, replaced.text
    assert {k["municipalityCode"]: k["share"] for k in replaced.json()["keys"]} == {A: 0.7, B: 0.3}


async def test_fair_share_equals_the_hand_computation(stack, http, backend):
    """A region of three: A hosts E (keys .5/.3/.2); A works 10 + 10 at E, B 6, C 2.

    True figures: shares 5/3/2, obligations 15/9/4; beds 15/3/4 -> fulfilment 1, 1/3, 1; region 22/28;
    lagging below 0.8 * 22/28 = 0.6286: B lags. Published: every count through the cell-key method with
    the keys of the registrations behind it; the municipality's own workingMigrants exactly.
    """
    region = await add_region(backend, [A, B, C])
    hosts = {code: await municipality(stack, http, code) for code in (A, B, C)}
    economic = unique_id("el")
    created = await http.post(
        stack.gateway + "/housing/v1/economic-locations",
        json={
            "id": economic,
            "name": "Test park",
            "regionCode": region,
            "hostMunicipalityCode": A,
            "keys": [
                {"municipalityCode": A, "share": 0.5},
                {"municipalityCode": B, "share": 0.3},
                {"municipalityCode": C, "share": 0.2},
            ],
        },
        headers=hosts[A],
    )
    assert created.status_code == 201, created.text
    people = {
        A: await register(stack, http, 10, A),
        "E": await register(stack, http, 10, A, economic),
        B: await register(stack, http, 6, B),
        C: await register(stack, http, 2, C),
    }
    keys = {cell: await record_keys(backend, ids) for cell, ids in people.items()}
    await operational(stack, http, hosts[A], 15)
    await operational(stack, http, hosts[B], 3)
    await operational(stack, http, hosts[B], 10, status="planned")
    await operational(stack, http, hosts[C], 4)

    def published(cell_keys: list[int]) -> int:
        return TABLE.published(len(cell_keys), cell_key(cell_keys))

    def expected_rows(viewer: str | None) -> dict[str, tuple[Any, ...]]:
        pool = published(keys["E"])
        rows = {}
        for code, share, beds in ((A, 0.5, 15), (B, 0.3, 3), (C, 0.2, 4)):
            working = len(keys[code]) if code == viewer else published(keys[code])
            obligation = working + share * pool
            fulfilment = round(beds / obligation, 4) if obligation else None
            rows[code] = (
                {"count": working, "exact": code == viewer},
                round(share * pool, 2),
                round(obligation, 2),
                beds,
                round(obligation - beds, 2),
                fulfilment,
                "lagging" if code == B else "on-track",  # on the true figures
                False,  # every row carries a part of the perturbed pool
            )
        return rows

    def got(report: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
        return {
            row["municipalityCode"]: (
                row["workingMigrants"],
                row["regionalShare"],
                row["obligation"],
                row["operationalBeds"],
                row["gap"],
                row["fulfilment"],
                row["status"],
                row["exact"],
            )
            for row in report["items"]
        }

    url = stack.gateway + f"/housing/v1/fair-share?regionCode={region}"
    response = await http.get(url, headers=hosts[C])
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["stale"] is False and report["asOf"] and report["economicLocationIds"] == [economic]
    assert report["disclosureControl"] == {"method": "cell-key", "threshold": 5, "maximumDeviation": 2}
    assert "threshold" not in report and all("suppressed" not in row for row in report["items"])
    assert got(report) == expected_rows(C)
    assert got(report)[C][0] == {"count": 2, "exact": True}  # its own count, exactly
    rows = {i["municipalityCode"]: i for i in report["items"]}
    assert rows[B]["pipelineBeds"] == {"planned": 10, "permitGranted": 0, "underConstruction": 0}
    assert report["pools"] == [
        {"economicLocationId": economic, "working": {"count": published(keys["E"]), "exact": False}}
    ]
    # The region's obligation is one cell of all 28 working there, not the sum of the published rows.
    total = published([k for ks in keys.values() for k in ks])
    assert report["totals"] == {
        "obligation": float(total),
        "operationalBeds": 22,
        "pipelineBeds": {"planned": 10, "permitGranted": 0, "underConstruction": 0},
        "gap": float(total - 22),
        "fulfilment": round(22 / total, 4),
        "exact": False,
    }
    assert report["laggingBelow"] == pytest.approx(0.8 * 22 / total, abs=1e-4)

    # An outsider sees every count perturbed: C's 2 working migrants as 0 or 5, never 2; the same answer again.
    province = auth(await stack.client_token(http, org_type="province", scopes=("fair-share:read",),
                                             province_code="PV22"))  # fmt: skip
    outside = (await http.get(url, headers=province)).json()
    assert got(outside) == expected_rows(None)
    assert got(outside)[C][0]["count"] in (0, TABLE.threshold)
    assert (await http.get(url, headers=province)).json()["items"] == outside["items"]

    # Registering more people working in B changes its cell (and key) in the next report.
    keys[B] += await record_keys(backend, await register(stack, http, 3, B))
    again = (await http.get(url, headers=hosts[C])).json()
    assert got(again) == expected_rows(C)

    # The registry unreachable: the last figures (with their keys), marked stale with their as-of time;
    # none kept: 503.
    with ExitStack() as exits:
        issuer = stack.gateway_settings.issuer
        cut_off = HousingSettings(
            database_url=backend.urls["housing"],
            jwks_url=issuer + "/.well-known/jwks.json",
            token_issuer=issuer,
            gateway_url=f"http://127.0.0.1:{free_port()}",
            client_secret="not-used",
            event_poll_seconds=0,
        )
        isolated = exits.enter_context(serve(create_housing(cut_off)))
        stale = await http.get(isolated + f"/v1/fair-share?regionCode={region}", headers=hosts[C])
        assert stale.status_code == 200, stale.text
        assert stale.json()["stale"] is True and stale.json()["asOf"] == again["asOf"]
        assert got(stale.json()) == expected_rows(C)
        fresh_region = await add_region(backend, ["GM0034"])  # Flevoland: never asked for here
        none_kept = await http.get(isolated + f"/v1/fair-share?regionCode={fresh_region}", headers=hosts[C])
        assert_problem(none_kept, 503, "service-unavailable")


async def test_fair_share_parameters(stack, http):
    headers = await municipality(stack, http, A)
    url = stack.gateway + "/housing/v1/fair-share"
    assert_problem(await http.get(url, headers=headers), 400, "invalid-input")
    both = await http.get(url + "?regionCode=west-brabant&provinceCode=PV30", headers=headers)
    assert_problem(both, 400, "invalid-input")
    assert_problem(await http.get(url + "?regionCode=no-such-region", headers=headers), 404)
    assert_problem(
        await http.get(url + "?provinceCode=PV30", headers=await municipality(stack, http, A, ("housing:read",))), 403
    )
    province = await http.get(url + "?provinceCode=PV22", headers=headers)
    assert province.status_code == 200, province.text
    assert province.json()["regionKind"] == "province" and len(province.json()["items"]) == 12
