"""Attacks on the registry's statistics, as an outsider would try them (issue: "Statistics and events
that cannot identify a person, whatever a party combines"). Each sets up a small count of 1..4 people
that suppression used to hide within one table, combines answers the way that recovered it exactly
before, and asserts that the published figures are consistent with at least two values (the attacker
cannot know which), using the public ptable (tests/support/disclosure.py).

The data lives in Limburg (PV31), which no other test writes; a few Limburg residents work in Aa en
Hunze (GM1680, Drenthe), also unused elsewhere."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from lmx_common.disclosure import cell_key
from tests.support.db import rows
from tests.support.disclosure import TABLE, assert_not_recovered, difference, omitted
from tests.support.registrations import make_registration

MAASTRICHT, HEERLEN, VENLO, ELSEWHERE = "GM0935", "GM0917", "GM0983", "GM1680"
LAST_YEAR = date.today().year - 1
STATISTICS = "/registry/v1/statistics"


def registrations(work: str, home: str, count: int, **extra: Any) -> list[dict[str, Any]]:
    fields = {
        "work.municipalityCode": work,
        "residence.municipalityCode": home,
        "arrivalDate": date.today().isoformat(),
    }
    return [make_registration(**(fields | extra)) for _ in range(count)]


async def records(stack, where: str) -> list[dict[str, Any]]:
    return await rows(stack.database_urls["registry"], f"SELECT * FROM registrations WHERE {where}")  # noqa: S608


def published_for(found: list[dict[str, Any]]) -> dict[str, Any]:
    """What the ptable gives the cell of exactly these records: the figure an outsider must see."""
    return {"count": TABLE.published(len(found), cell_key(int(r["record_key"]) for r in found)), "exact": False}


def figure(count: dict[str, Any]) -> dict[str, Any]:
    return {"count": count["count"], "exact": count["exact"]}


async def load(stack, http) -> None:
    """Limburg: 32 residents of Maastricht, 2 of whom work outside the province; Heerlen employs 3
    residents of Venlo; Maastricht's arrivals last year: 2 in April, 9 in May, 11 in June; this year 1
    resident of Heerlen departs, beside 10 of Maastricht and 6 of Venlo."""
    token = await stack.client_token(http, org_type="information-point", scopes=("registry:read", "registry:write"))
    headers = {"Authorization": f"Bearer {token}"}
    bodies = (
        registrations(MAASTRICHT, MAASTRICHT, 2, arrivalDate=f"{LAST_YEAR}-04-10")
        + registrations(MAASTRICHT, MAASTRICHT, 9, arrivalDate=f"{LAST_YEAR}-05-10")
        + registrations(MAASTRICHT, MAASTRICHT, 11, arrivalDate=f"{LAST_YEAR}-06-10")
        + registrations(MAASTRICHT, MAASTRICHT, 8 + 10)
        + registrations(ELSEWHERE, MAASTRICHT, 2)
        + registrations(HEERLEN, HEERLEN, 12 + 1)
        + registrations(HEERLEN, VENLO, 3)
        + registrations(VENLO, VENLO, 20 + 6)
    )
    response = await http.post(
        stack.gateway + "/registry/v1/registrations/bulk",
        content="\n".join(json.dumps(b) for b in bodies),
        headers=headers | {"Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200 and response.json()["created"] == len(bodies), response.text
    created = response.json()["results"]
    plain = [i for i, b in enumerate(bodies) if b["arrivalDate"] == date.today().isoformat()]
    leaving = {MAASTRICHT: 10, HEERLEN: 1, VENLO: 6}
    for index in plain:
        home = bodies[index]["residence"]["municipalityCode"]
        work = bodies[index]["work"]["municipalityCode"]
        if work == home and leaving.get(home, 0) > 0:
            leaving[home] -= 1
            departed = await http.post(
                stack.gateway + f"/registry/v1/registrations/{created[index]['id']}/departure",
                json={"date": date.today().isoformat(), "reason": "job-lost", "destination": {"type": "unknown"}},
                headers=headers,
            )
            assert departed.status_code == 200, departed.text
    assert not any(leaving.values())


@pytest.fixture(scope="module")
def loaded() -> set[int]:
    return set()


@pytest.fixture
async def limburg(stack, http, loaded):
    if id(stack) not in loaded:
        await load(stack, http)
        loaded.add(id(stack))
    return stack


async def outsider(stack, http, **claims: Any) -> dict[str, str]:
    """A statistics-only client: the national one unless claims say otherwise."""
    token = await stack.client_token(http, **({"org_type": "national"} | claims), scopes=("registry:statistics",))
    return {"Authorization": f"Bearer {token}"}


async def get(http, stack, path: str, headers: dict[str, str]) -> dict[str, Any]:
    response = await http.get(stack.gateway + STATISTICS + path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def item(document: dict[str, Any], code: str) -> dict[str, Any]:
    return next(i for i in document["items"] if i["municipalityCode"] == code)


def total_of(lines: list[dict[str, Any]], code: str) -> dict[str, Any]:
    return next((t for t in lines if t["municipalityCode"] == code), omitted())


def no_small_count(document: Any) -> None:
    """Nowhere in an outsider's answer a count of 1..threshold-1."""
    if isinstance(document, dict):
        if "count" in document and "exact" in document:
            assert document["exact"] or not 0 < document["count"] < TABLE.threshold, document
        for value in document.values():
            no_small_count(value)
    elif isinstance(document, list):
        for value in document:
            no_small_count(value)


async def test_period_differencing_gives_noise(limburg, http):
    """Arrivals in a quarter minus two of its months: April's 2 arrivals in Maastricht."""
    headers = await outsider(limburg, http, org_type="province", province_code="PV31")
    quarter, may, june = [
        item(await get(http, limburg, f"/municipalities?provinceCode=PV31&period={p}", headers), MAASTRICHT)["arrivals"]
        for p in (f"{LAST_YEAR}-Q2", f"{LAST_YEAR}-05", f"{LAST_YEAR}-06")
    ]
    assert_not_recovered(difference([quarter], [may, june]), truth=2)
    april = item(
        await get(http, limburg, f"/municipalities?provinceCode=PV31&period={LAST_YEAR}-04", headers), MAASTRICHT
    )
    assert april["arrivals"]["count"] in (0, TABLE.threshold)


async def test_free_period_boundaries_are_refused(limburg, http):
    """Two periods a day apart would give that day by subtraction: only calendar periods exist."""
    headers = await outsider(limburg, http)
    for query in ("periodFrom=2026-01-01&periodTo=2026-01-31", "period=2026-01-01", "period=2026-W03"):
        response = await http.get(limburg.gateway + STATISTICS + f"/departures?{query}", headers=headers)
        assert response.status_code == 400, query
        assert response.headers["content-type"] == "application/problem+json"


async def test_filter_differencing_gives_noise(limburg, http):
    """Residents of Maastricht in the national table minus those working in Limburg: the 2 who work
    elsewhere."""
    headers = await outsider(limburg, http)
    national = await get(http, limburg, "/work-residence", headers)
    in_limburg = await get(http, limburg, "/work-residence?provinceCode=PV31", headers)
    whole = total_of(national["residenceTotals"], MAASTRICHT)
    part = total_of(in_limburg["residenceTotals"], MAASTRICHT)
    assert_not_recovered(difference([whole], [part]), truth=2)
    # The figures are the ptable's, for their own records: perturbed, not merely labelled so.
    living = await records(limburg, f"status = 'active' AND residence_municipality_code = '{MAASTRICHT}'")
    assert figure(whole) == published_for(living)
    assert figure(part) == published_for([r for r in living if r["work_municipality_code"] != ELSEWHERE])
    no_small_count(national)
    no_small_count(in_limburg)


async def test_cross_endpoint_totals_agree_and_give_noise(limburg, http):
    """A row total is the same figure in every endpoint (the same records, so the same key): nothing
    to subtract. A column total minus its shown cells is noise: the 3 residents of Venlo in Heerlen."""
    headers = await outsider(limburg, http)
    table = await get(http, limburg, "/work-residence?provinceCode=PV31", headers)
    figures = await get(http, limburg, "/municipalities?provinceCode=PV31", headers)
    for code in (MAASTRICHT, HEERLEN, VENLO):
        assert item(figures, code)["working"] == {
            k: v for k, v in total_of(table["workTotals"], code).items() if k != "municipalityCode"
        }
    cells = {(c["workMunicipalityCode"], c["residenceMunicipalityCode"]): c for c in table["cells"]}
    venlo_column = total_of(table["residenceTotals"], VENLO)
    shown = [c for (w, r), c in cells.items() if r == VENLO and w != HEERLEN]
    assert_not_recovered(difference([venlo_column], shown), truth=3)
    heerlen_row = total_of(table["workTotals"], HEERLEN)
    others = [c for (w, r), c in cells.items() if w == HEERLEN and r != VENLO]
    assert_not_recovered(difference([heerlen_row], others), truth=3)


async def test_departures_total_minus_the_visible_municipalities_gives_noise(limburg, http):
    """The province's departures minus those of every other municipality: Heerlen's 1."""
    headers = await outsider(limburg, http)
    year = date.today().year
    per_municipality = await get(http, limburg, f"/municipalities?provinceCode=PV31&period={year}", headers)
    province = await get(http, limburg, f"/departures?provinceCode=PV31&period={year}", headers)
    others = [i["departures"] for i in per_municipality["items"] if i["municipalityCode"] != HEERLEN]
    assert_not_recovered(difference([province["total"]], others), truth=1)
    left = await records(
        limburg, f"status = 'departed' AND residence_municipality_code IN ('{MAASTRICHT}', '{HEERLEN}', '{VENLO}')"
    )
    assert figure(province["total"]) == published_for(left)
    for code in (MAASTRICHT, VENLO):
        assert figure(item(per_municipality, code)["departures"]) == published_for(
            [r for r in left if r["residence_municipality_code"] == code]
        )
    # And through the reason totals: the one reason of all of them.
    reason = next(t for t in province["reasonTotals"] if t["label"] == "job-lost")
    assert_not_recovered(difference([reason], others), truth=1)
    no_small_count(province)
    no_small_count(per_municipality)


async def test_the_same_question_always_gets_the_same_answer(limburg, http):
    """Repetition averages nothing away: the same cell is the same published figure every time, by
    whichever filter it is reached."""
    headers = await outsider(limburg, http)
    answers = [await get(http, limburg, "/work-residence?provinceCode=PV31", headers) for _ in range(3)]
    assert all(a["cells"] == answers[0]["cells"] and a["total"] == answers[0]["total"] for a in answers)
    heerlen = await get(http, limburg, f"/work-residence?workMunicipalityCode={HEERLEN}", headers)
    assert [c for c in answers[0]["cells"] if c["workMunicipalityCode"] == HEERLEN] == heerlen["cells"]
    assert total_of(answers[0]["workTotals"], HEERLEN) == total_of(heerlen["workTotals"], HEERLEN)
    # The grand total of one work municipality is that municipality's row total, so the same figure.
    assert {k: v for k, v in heerlen["total"].items()} == {
        k: v for k, v in total_of(heerlen["workTotals"], HEERLEN).items() if k != "municipalityCode"
    }


async def test_the_municipality_concerned_still_sees_its_own_counts_exactly(limburg, http):
    token = await limburg.client_token(http, scopes=("registry:statistics",), municipality_code=HEERLEN)
    own = await get(
        http, limburg, f"/work-residence?workMunicipalityCode={HEERLEN}", {"Authorization": f"Bearer {token}"}
    )
    cells = {(c["workMunicipalityCode"], c["residenceMunicipalityCode"]): c for c in own["cells"]}
    assert cells[(HEERLEN, VENLO)]["count"] >= 3 and cells[(HEERLEN, VENLO)]["exact"] is True
    year = date.today().year
    figures = await get(
        http, limburg, f"/municipalities?provinceCode=PV31&period={year}", {"Authorization": f"Bearer {token}"}
    )
    assert item(figures, HEERLEN)["departures"] == {"count": 1, "exact": True}
    assert item(figures, VENLO)["departures"]["exact"] is False
