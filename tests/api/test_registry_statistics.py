"""Statistics equal a brute-force count over the same data; suppression holds for outsiders, while a
municipality's own figures are exact. The data set lives in Zeeland, which no other test uses."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest

from services.registry import statistics_router
from services.registry.statistics_schemas import WorkResidenceStatistics
from tests.support.db import rows
from tests.support.registrations import make_registration

ZEELAND = ("GM0654", "GM0664", "GM0715", "GM0718")
PAIRS = {
    ("GM0654", "GM0664"): 12,
    ("GM0654", "GM0654"): 3,
    ("GM0664", "GM0664"): 8,
    ("GM0715", "GM0718"): 2,
    ("GM0715", "GM0715"): 9,
    ("GM0718", "GM0718"): 6,
}
PERIOD = f"periodFrom={(date.today() - timedelta(days=400)).isoformat()}&periodTo={date.today().isoformat()}"


@pytest.fixture(scope="module")
def prepared():
    return {}


async def zeeland(stack, http, prepared):
    """Load the data set once per backend: registrations by an information point, some departed."""
    if id(stack) in prepared:
        return prepared[id(stack)]
    token = await stack.client_token(http, org_type="information-point", scopes=("registry:read", "registry:write"))
    headers = {"Authorization": f"Bearer {token}"}
    lines = []
    for (work, home), count in PAIRS.items():
        for i in range(count):
            overrides = {
                "work.municipalityCode": work,
                "residence.municipalityCode": home,
                "arrivalDate": (date.today() - timedelta(days=20 + i)).isoformat(),
            }
            if (work, home) == ("GM0654", "GM0664") and i < 7:
                overrides["residence.housingLocationId"] = "zl-loc-big"
            if (work, home) == ("GM0664", "GM0664") and i < 2:
                overrides["residence.housingLocationId"] = "zl-loc-small"
            lines.append(json.dumps(make_registration(**overrides)))
    result = await http.post(
        stack.gateway + "/registry/v1/registrations/bulk",
        content="\n".join(lines),
        headers=headers | {"Content-Type": "application/x-ndjson"},
    )
    assert result.status_code == 200 and result.json()["invalid"] == 0, result.text
    ids = [r["id"] for r in result.json()["results"]]
    # Depart six of Terneuzen's nine and one from Goes: by reason and destination.
    departures = (
        [("job-lost", {"type": "abroad", "countryCode": "PL"})] * 3
        + [("housing-lost", {"type": "municipality", "municipalityCode": "GM0718"})]
        + [("contract-ended", {"type": "abroad", "countryCode": "RO"})] * 2
        + [("unknown", {"type": "unknown"})]
    )
    terneuzen = [
        i
        for i, line in zip(ids, lines, strict=True)
        if json.loads(line)["work"]["municipalityCode"] == "GM0715"
        and json.loads(line)["residence"]["municipalityCode"] == "GM0715"
    ]
    goes = [i for i, line in zip(ids, lines, strict=True) if json.loads(line)["work"]["municipalityCode"] == "GM0664"]
    for registration_id, (reason, destination) in zip(terneuzen[:6] + goes[:1], departures, strict=True):
        response = await http.post(
            stack.gateway + f"/registry/v1/registrations/{registration_id}/departure",
            json={"date": date.today().isoformat(), "reason": reason, "destination": destination},
            headers=headers,
        )
        assert response.status_code == 200, response.text
    data = await rows(
        stack.database_urls["registry"],
        "SELECT * FROM registrations WHERE work_municipality_code IN ('GM0654','GM0664','GM0715',"
        "'GM0718') OR residence_municipality_code IN ('GM0654','GM0664','GM0715','GM0718')",
    )
    prepared[id(stack)] = data
    return data


async def token(stack, http, kind: str) -> dict[str, str]:
    if kind == "exact":
        value = await stack.client_token(
            http, org_type="national", scopes=("registry:statistics", "registry:person-level")
        )
    elif kind == "outsider":
        value = await stack.client_token(http, org_type="national", scopes=("registry:statistics",))
    else:
        value = await stack.client_token(http, scopes=("registry:statistics",), municipality_code=kind)
    return {"Authorization": f"Bearer {value}"}


def brute_municipalities(data):
    since = date.today() - timedelta(days=400)

    def when(value):
        return date.fromisoformat(str(value)[:10]) if value else None

    counts: dict[str, Counter[Any]] = {code: Counter() for code in ZEELAND}
    for r in data:
        if r["status"] == "active":
            if r["work_municipality_code"] in counts:
                counts[r["work_municipality_code"]]["working"] += 1
            if r["residence_municipality_code"] in counts:
                counts[r["residence_municipality_code"]]["residing"] += 1
        home = counts.get(r["residence_municipality_code"])
        if home is not None and when(r["arrival_date"]) >= since:
            home["arrivals"] += 1
        if home is not None and r["departure_date"] and when(r["departure_date"]) >= since:
            home["departures"] += 1
    return counts


async def test_municipality_statistics_match_a_brute_force_count(stack, http, prepared):
    data = await zeeland(stack, http, prepared)
    expected = brute_municipalities(data)
    response = await http.get(
        stack.gateway + f"/registry/v1/statistics/municipalities?provinceCode=PV29&{PERIOD}",
        headers=await token(stack, http, "exact"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["threshold"] == 5 and body["asOf"].endswith("Z")
    items = {item["municipalityCode"]: item for item in body["items"]}
    assert len(items) == 13  # every municipality of Zeeland, also those with nothing
    for code in ZEELAND:
        for measure in ("working", "residing", "arrivals", "departures"):
            assert items[code][measure] == {"count": expected[code][measure], "suppressed": False}, (code, measure)
    assert items["GM0654"]["working"]["count"] == 15 and items["GM0715"]["departures"]["count"] == 6


async def test_outsiders_see_small_counts_suppressed_and_the_municipality_its_own_exactly(stack, http, prepared):
    data = await zeeland(stack, http, prepared)
    expected = brute_municipalities(data)
    url = stack.gateway + f"/registry/v1/statistics/municipalities?provinceCode=PV29&{PERIOD}"
    outsider = {
        i["municipalityCode"]: i
        for i in (await http.get(url, headers=await token(stack, http, "outsider"))).json()["items"]
    }
    goes = {
        i["municipalityCode"]: i
        for i in (await http.get(url, headers=await token(stack, http, "GM0664"))).json()["items"]
    }
    saw_suppression = False
    for code in ZEELAND:
        for measure in ("working", "residing", "arrivals", "departures"):
            true_value = expected[code][measure]
            small = 0 < true_value < 5
            saw_suppression |= small
            assert outsider[code][measure] == (
                {"count": None, "suppressed": True} if small else {"count": true_value, "suppressed": False}
            )
            own = code == "GM0664"
            assert goes[code][measure] == (
                {"count": None, "suppressed": True} if small and not own else {"count": true_value, "suppressed": False}
            )
    assert saw_suppression
    assert goes["GM0664"]["departures"] == {"count": 1, "suppressed": False}


async def test_work_residence_cross_table(stack, http, prepared, monkeypatch):
    # The document is streamed in slices of cells; small slices here, so the joins are exercised.
    monkeypatch.setattr(statistics_router, "CELLS_PER_SLICE", 2)
    data = await zeeland(stack, http, prepared)
    active = Counter(
        (r["work_municipality_code"], r["residence_municipality_code"]) for r in data if r["status"] == "active"
    )
    url = stack.gateway + "/registry/v1/statistics/work-residence?provinceCode=PV29"
    exact = (await http.get(url, headers=await token(stack, http, "exact"))).json()
    assert {(c["workMunicipalityCode"], c["residenceMunicipalityCode"]): c["count"] for c in exact["cells"]} == dict(
        active
    )
    assert {t["municipalityCode"]: t["count"] for t in exact["workTotals"]} == {
        w: sum(n for (ww, _), n in active.items() if ww == w) for w, _ in active
    }
    assert exact["total"] == {"count": sum(active.values()), "suppressed": False}

    outsider_response = await http.get(url, headers=await token(stack, http, "outsider"))
    assert outsider_response.headers["content-type"] == "application/json"
    outsider = outsider_response.json()
    # The document is written as text for speed; it must still be exactly what the OpenAPI model says.
    for document in (exact, outsider):
        assert WorkResidenceStatistics.model_validate(document).model_dump(mode="json", by_alias=True) == document
    cells = {(c["workMunicipalityCode"], c["residenceMunicipalityCode"]): c for c in outsider["cells"]}
    for key, cell in cells.items():
        if 0 < active[key] < 5:
            assert cell["suppressed"] and cell["count"] is None
        if not cell["suppressed"]:
            assert cell["count"] == active[key]
    # No hidden cell can be computed from a shown row or column total.
    work_totals = {t["municipalityCode"]: t for t in outsider["workTotals"]}
    home_totals = {t["municipalityCode"]: t for t in outsider["residenceTotals"]}
    for work, total in work_totals.items():
        hidden = [k for k, c in cells.items() if k[0] == work and c["suppressed"]]
        assert total["suppressed"] or len(hidden) != 1, (work, hidden)
    for home, total in home_totals.items():
        hidden = [k for k, c in cells.items() if k[1] == home and c["suppressed"]]
        assert total["suppressed"] or len(hidden) != 1, (home, hidden)
    assert cells[("GM0654", "GM0654")]["suppressed"]  # 3 people
    assert cells[("GM0654", "GM0664")]["suppressed"]  # secondary: Borsele's row total is 15

    borsele = (await http.get(url, headers=await token(stack, http, "GM0654"))).json()
    own = {(c["workMunicipalityCode"], c["residenceMunicipalityCode"]): c for c in borsele["cells"]}
    assert own[("GM0654", "GM0654")] | {} == {
        "workMunicipalityCode": "GM0654",
        "residenceMunicipalityCode": "GM0654",
        "count": 3,
        "suppressed": False,
    }


async def test_housing_location_residents(stack, http, prepared):
    data = await zeeland(stack, http, prepared)
    small = sum(1 for r in data if r["housing_location_id"] == "zl-loc-small" and r["status"] == "active")
    assert small == 1  # two lived there; one departed
    url = (
        stack.gateway + "/registry/v1/statistics/housing-locations?housingLocationId=zl-loc-big"
        "&housingLocationId=zl-loc-small"
    )
    outsider = {
        i["housingLocationId"]: i
        for i in (await http.get(url, headers=await token(stack, http, "outsider"))).json()["items"]
    }
    assert outsider["zl-loc-big"]["residents"] == {"count": 7, "suppressed": False}
    assert outsider["zl-loc-small"]["residents"] == {"count": None, "suppressed": True}
    goes = {
        i["housingLocationId"]: i
        for i in (await http.get(url, headers=await token(stack, http, "GM0664"))).json()["items"]
    }
    assert goes["zl-loc-small"] == {
        "housingLocationId": "zl-loc-small",
        "municipalityCode": "GM0664",
        "residents": {"count": small, "suppressed": False},
    }


async def test_departures_by_reason_and_destination(stack, http, prepared):
    data = await zeeland(stack, http, prepared)
    departed = Counter(
        (r["departure_reason"], r["departure_destination_type"])
        for r in data
        if r["status"] == "departed" and r["residence_municipality_code"] == "GM0715"
    )
    url = stack.gateway + f"/registry/v1/statistics/departures?municipalityCode=GM0715&{PERIOD}"
    own = (await http.get(url, headers=await token(stack, http, "GM0715"))).json()
    assert {(c["reason"], c["destination"]): c["count"] for c in own["cells"]} == dict(departed)
    assert own["total"]["count"] == 6
    outsider = (await http.get(url, headers=await token(stack, http, "outsider"))).json()
    assert all(c["suppressed"] for c in outsider["cells"])  # every cell 1..4 here
    assert outsider["total"] == {"count": 6, "suppressed": False}
    for total in outsider["reasonTotals"] + outsider["destinationTotals"]:
        assert total["count"] is None or total["count"] >= 5

    bad = await http.get(
        stack.gateway + "/registry/v1/statistics/departures?periodFrom=2026-02-01&periodTo=2026-01-01"
        "&municipalityCode=XX",
        headers=await token(stack, http, "outsider"),
    )
    assert bad.status_code == 400
    assert {p["name"] for p in bad.json()["invalidParams"]} == {"municipalityCode"}


async def test_statistics_need_the_statistics_scope(stack, http):
    reader = await stack.client_token(http, scopes=("registry:read",))
    response = await http.get(
        stack.registry + "/v1/statistics/work-residence", headers={"Authorization": f"Bearer {reader}"}
    )
    assert response.status_code == 403


async def test_economic_locations_and_exact_statistics_for_system_clients(stack, http):
    mip = await stack.client_token(http, org_type="information-point", scopes=("registry:read", "registry:write"))
    headers = {"Authorization": f"Bearer {mip}"}
    lines = []
    for i in range(9):  # Vlissingen's port: 6 at the port area, 3 elsewhere in Vlissingen
        overrides = {"work.municipalityCode": "GM0718", "residence.municipalityCode": "GM0717"}
        if i < 6:
            overrides["work.economicLocationId"] = "zl-port-vlissingen-east" if i < 4 else "zl-port-vlissingen-west"
        lines.append(json.dumps(make_registration(**overrides)))
    result = await http.post(
        stack.gateway + "/registry/v1/registrations/bulk",
        content="\n".join(lines),
        headers=headers | {"Content-Type": "application/x-ndjson"},
    )
    assert result.json()["created"] == 9
    url = (
        stack.gateway + "/registry/v1/statistics/economic-locations?economicLocationId=zl-port-vlissingen-east"
        "&economicLocationId=zl-port-vlissingen-west"
    )
    response = await http.get(url, headers=await token(stack, http, "outsider"))
    assert response.status_code == 200, response.text
    outsider = response.json()["items"]
    assert [(i["economicLocationId"], i["workMunicipalityCode"], i["working"]) for i in outsider] == [
        ("zl-port-vlissingen-east", "GM0718", {"count": None, "suppressed": True}),
        ("zl-port-vlissingen-west", "GM0718", {"count": None, "suppressed": True}),
    ]
    system = await stack.client_token(
        http, org_type="service", scopes=("registry:statistics", "registry:statistics-exact")
    )
    exact = (await http.get(url, headers={"Authorization": f"Bearer {system}"})).json()["items"]
    assert [i["working"]["count"] for i in exact] == [4, 2]
