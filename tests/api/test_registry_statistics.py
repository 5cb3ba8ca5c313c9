"""Statistics equal a brute-force count over the same data for callers who see exact counts; for
outsiders every count is the ptable's value for the cell's true count and the cell key of its records
(computed here from the stored record keys), while a municipality's own figures are exact. The data
set lives in Zeeland, which no other test uses."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest

from lmx_common.disclosure import PTable, cell_key
from lmx_common.reference import municipalities
from services.registry import statistics_router
from services.registry.statistics_schemas import WorkResidenceStatistics
from tests.support.db import rows
from tests.support.registrations import make_registration

ZEELAND = ("GM0654", "GM0664", "GM0715", "GM0718")
PV29 = {code for code, m in municipalities().items() if m.province_code == "PV29"}
PAIRS = {
    ("GM0654", "GM0664"): 12,
    ("GM0654", "GM0654"): 3,
    ("GM0664", "GM0664"): 8,
    ("GM0715", "GM0718"): 2,
    ("GM0715", "GM0715"): 9,
    ("GM0718", "GM0718"): 6,
}
YEAR = date.today().year
PERIOD = f"period={YEAR}"
TABLE = PTable()  # the registry's default parameters


def published(records: list[dict[str, Any]]) -> int:
    """What an outsider must be shown for a cell of exactly these records."""
    return TABLE.published(len(records), cell_key(int(r["record_key"]) for r in records))


def exact(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"count": len(records), "exact": True}


def perturbed(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"count": published(records), "exact": False}


def seen_by(records: list[dict[str, Any]], municipality: str) -> dict[str, Any]:
    """What a municipality must be shown: its own records (working or living in it) exactly, the rest
    perturbed on the rest's own key."""
    own = [r for r in records if municipality in (r["work_municipality_code"], r["residence_municipality_code"])]
    rest = [r for r in records if r not in own]
    if records and not rest:
        return exact(records)
    return {"count": published(rest) + len(own), "exact": False}


@pytest.fixture(scope="module")
def prepared():
    return {}


async def zeeland(stack, http, prepared):
    """Load the data set once per backend: registrations by an information point, some departed."""
    if id(stack) not in prepared:
        await load_zeeland(stack, http)
        prepared[id(stack)] = True
    # Read afresh: every registration of Zeeland now, also those later tests add.
    return await rows(
        stack.database_urls["registry"],
        "SELECT * FROM registrations WHERE work_municipality_code LIKE 'GM0%' OR residence_municipality_code "
        "LIKE 'GM0%' OR work_municipality_code LIKE 'GM1%' OR residence_municipality_code LIKE 'GM1%'",
    )


async def load_zeeland(stack, http) -> None:
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


def brute_municipalities(data) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Per municipality and measure, the records counted (this calendar year for the flows)."""

    def this_year(value):
        return value is not None and date.fromisoformat(str(value)[:10]).year == YEAR

    records: dict[str, dict[str, list[dict[str, Any]]]] = {
        code: {m: [] for m in ("working", "residing", "arrivals", "departures")} for code in ZEELAND
    }
    for r in data:
        if r["status"] == "active":
            if r["work_municipality_code"] in records:
                records[r["work_municipality_code"]]["working"].append(r)
            if r["residence_municipality_code"] in records:
                records[r["residence_municipality_code"]]["residing"].append(r)
        home = records.get(r["residence_municipality_code"])
        if home is not None and this_year(r["arrival_date"]):
            home["arrivals"].append(r)
        if home is not None and this_year(r["departure_date"]):
            home["departures"].append(r)
    return records


async def test_municipality_statistics_match_a_brute_force_count(stack, http, prepared):
    data = await zeeland(stack, http, prepared)
    expected = brute_municipalities(data)
    response = await http.get(
        stack.gateway + f"/registry/v1/statistics/municipalities?provinceCode=PV29&{PERIOD}",
        headers=await token(stack, http, "exact"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["disclosureControl"] == {"method": "cell-key", "threshold": 5, "maximumDeviation": 2}
    assert body["asOf"].endswith("Z")
    assert body["period"] == {"name": str(YEAR), "from": f"{YEAR}-01-01", "to": f"{YEAR}-12-31"}
    items = {item["municipalityCode"]: item for item in body["items"]}
    assert len(items) == 13  # every municipality of Zeeland, also those with nothing
    for code in ZEELAND:
        for measure in ("working", "residing", "arrivals", "departures"):
            assert items[code][measure] == exact(expected[code][measure]), (code, measure)
    assert items["GM0654"]["working"]["count"] == 15 and items["GM0715"]["departures"]["count"] == 6


async def test_outsiders_see_perturbed_counts_and_the_municipality_its_own_exactly(stack, http, prepared):
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
    changed = 0
    for code in ZEELAND:
        for measure in ("working", "residing", "arrivals", "departures"):
            records = expected[code][measure]
            assert outsider[code][measure] == perturbed(records), (code, measure)
            assert not 0 < outsider[code][measure]["count"] < 5  # never a small count
            changed += outsider[code][measure]["count"] != len(records)
            assert goes[code][measure] == seen_by(records, "GM0664"), (code, measure)
            if code == "GM0664" and records:
                assert goes[code][measure]["exact"] is True
    assert changed > 0  # the perturbation is not the identity on this data
    assert goes["GM0664"]["departures"] == {"count": 1, "exact": True}
    assert "cellKey" not in outsider["GM0664"]["working"]


async def test_work_residence_cross_table(stack, http, prepared, monkeypatch):
    # The document is streamed in slices of cells; small slices here, so the joins are exercised.
    monkeypatch.setattr(statistics_router, "CELLS_PER_SLICE", 2)
    data = await zeeland(stack, http, prepared)
    in_zeeland = [r for r in data if r["status"] == "active" and r["work_municipality_code"] in PV29]
    cells: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in in_zeeland:
        cells.setdefault((r["work_municipality_code"], r["residence_municipality_code"]), []).append(r)
    url = stack.gateway + "/registry/v1/statistics/work-residence?provinceCode=PV29"
    exact_doc = (await http.get(url, headers=await token(stack, http, "exact"))).json()
    assert {(c["workMunicipalityCode"], c["residenceMunicipalityCode"]): c["count"] for c in exact_doc["cells"]} == {
        k: len(v) for k, v in cells.items()
    }
    assert {t["municipalityCode"]: t["count"] for t in exact_doc["workTotals"]} == dict(
        Counter(r["work_municipality_code"] for r in in_zeeland)
    )
    assert exact_doc["total"] == {"count": len(in_zeeland), "exact": True}

    outsider_response = await http.get(url, headers=await token(stack, http, "outsider"))
    assert outsider_response.headers["content-type"] == "application/json"
    outsider = outsider_response.json()
    # The document is written as text for speed; it must still be exactly what the OpenAPI model says.
    for document in (exact_doc, outsider):
        assert WorkResidenceStatistics.model_validate(document).model_dump(mode="json", by_alias=True) == document
    shown = {(c["workMunicipalityCode"], c["residenceMunicipalityCode"]): c for c in outsider["cells"]}
    # Every cell with a published count above 0 is listed with exactly that count; the others are not.
    assert shown == {
        k: {"workMunicipalityCode": k[0], "residenceMunicipalityCode": k[1]} | perturbed(v)
        for k, v in cells.items()
        if published(v) > 0
    }
    # Totals are cells of their own (their own records, their own key), not sums of the cells.
    by_work: dict[str, list[dict[str, Any]]] = {}
    by_home: dict[str, list[dict[str, Any]]] = {}
    for r in in_zeeland:
        by_work.setdefault(r["work_municipality_code"], []).append(r)
        by_home.setdefault(r["residence_municipality_code"], []).append(r)
    assert {t["municipalityCode"]: t["count"] for t in outsider["workTotals"]} == {
        w: published(v) for w, v in by_work.items() if published(v) > 0
    }
    assert {t["municipalityCode"]: t["count"] for t in outsider["residenceTotals"]} == {
        h: published(v) for h, v in by_home.items() if published(v) > 0
    }
    assert outsider["total"] == perturbed(in_zeeland)
    assert all(not 0 < c["count"] < 5 for c in outsider["cells"] + outsider["workTotals"])

    borsele = (await http.get(url, headers=await token(stack, http, "GM0654"))).json()
    own = {(c["workMunicipalityCode"], c["residenceMunicipalityCode"]): c for c in borsele["cells"]}
    assert own[("GM0654", "GM0654")] == {
        "workMunicipalityCode": "GM0654",
        "residenceMunicipalityCode": "GM0654",
        "count": 3,
        "exact": True,
    }
    assert {t["municipalityCode"]: t for t in borsele["workTotals"]}["GM0654"]["exact"] is True


async def test_housing_location_residents(stack, http, prepared):
    data = await zeeland(stack, http, prepared)
    big = [r for r in data if r["housing_location_id"] == "zl-loc-big" and r["status"] == "active"]
    small = [r for r in data if r["housing_location_id"] == "zl-loc-small" and r["status"] == "active"]
    assert (len(big), len(small)) == (7, 1)  # two lived at the small one; one departed
    url = (
        stack.gateway + "/registry/v1/statistics/housing-locations?housingLocationId=zl-loc-big"
        "&housingLocationId=zl-loc-small"
    )
    response = await http.get(url, headers=await token(stack, http, "outsider"))
    assert response.status_code == 200 and response.json()["disclosureControl"]["method"] == "cell-key"
    outsider = {i["housingLocationId"]: i for i in response.json()["items"]}
    assert outsider["zl-loc-big"]["residents"] == perturbed(big)
    # A location is listed only when its published count is above 0.
    assert ("zl-loc-small" in outsider) == (published(small) > 0)
    if "zl-loc-small" in outsider:
        assert outsider["zl-loc-small"]["residents"] == {"count": 5, "exact": False}
    goes = {
        i["housingLocationId"]: i
        for i in (await http.get(url, headers=await token(stack, http, "GM0664"))).json()["items"]
    }
    assert goes["zl-loc-small"] == {
        "housingLocationId": "zl-loc-small",
        "municipalityCode": "GM0664",
        "residents": exact(small),
    }


async def test_departures_by_reason_and_destination(stack, http, prepared):
    data = await zeeland(stack, http, prepared)
    departed = [
        r
        for r in data
        if r["status"] == "departed"
        and r["residence_municipality_code"] == "GM0715"
        and date.fromisoformat(str(r["departure_date"])[:10]).year == YEAR
    ]
    by_cell: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in departed:
        by_cell.setdefault((r["departure_reason"], r["departure_destination_type"]), []).append(r)
    url = stack.gateway + f"/registry/v1/statistics/departures?municipalityCode=GM0715&{PERIOD}"
    own = (await http.get(url, headers=await token(stack, http, "GM0715"))).json()
    assert {(c["reason"], c["destination"]): c["count"] for c in own["cells"]} == {
        k: len(v) for k, v in by_cell.items()
    }
    assert own["total"] == {"count": 6, "exact": True}
    outsider = (await http.get(url, headers=await token(stack, http, "outsider"))).json()
    assert {(c["reason"], c["destination"]): c["count"] for c in outsider["cells"]} == {
        k: published(v) for k, v in by_cell.items() if published(v) > 0
    }
    assert outsider["total"] == perturbed(departed)
    for total in outsider["reasonTotals"] + outsider["destinationTotals"] + outsider["cells"]:
        assert total["exact"] is False and total["count"] >= 5

    bad = await http.get(
        stack.gateway + "/registry/v1/statistics/departures?period=2026-13&municipalityCode=XX",
        headers=await token(stack, http, "outsider"),
    )
    assert bad.status_code == 400
    assert {p["name"] for p in bad.json()["invalidParams"]} == {"municipalityCode", "period"}


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
    at = {
        name: await rows(
            stack.database_urls["registry"],
            f"SELECT record_key FROM registrations WHERE economic_location_id = '{name}'",  # noqa: S608
        )
        for name in ("zl-port-vlissingen-east", "zl-port-vlissingen-west")
    }
    assert [(i["economicLocationId"], i["workMunicipalityCode"], i["working"]) for i in outsider] == [
        (name, "GM0718", perturbed(records)) for name, records in at.items() if published(records) > 0
    ]
    system = await stack.client_token(
        http, org_type="service", scopes=("registry:statistics", "registry:statistics-exact")
    )
    exact_items = (await http.get(url, headers={"Authorization": f"Bearer {system}"})).json()["items"]
    # A re-publishing client gets the exact count and the cell key, to perturb its own figures with.
    assert [i["working"] for i in exact_items] == [
        {"count": len(records), "exact": True, "cellKey": cell_key(int(r["record_key"]) for r in records)}
        for records in at.values()
    ]
