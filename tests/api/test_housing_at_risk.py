"""People at risk: certification events through the feed, residents from the registry, idempotency."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from lmx_common.db import Database
from lmx_common.disclosure import PTable, cell_key
from services.housing import feed_consumer, repository
from services.housing.clients import CursorRefused
from services.housing.models import CertificateStanding, Region, RegionMember
from tests.conftest import assert_problem
from tests.support.certification import certifier, make_certificate
from tests.support.housing import make_location, record_keys
from tests.support.registrations import make_registration

HOOGEVEEN = "GM0118"
WRITER = ("housing:read", "housing:write", "fair-share:read")
TABLE = PTable()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def eventually(check: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.2)


async def test_a_suspended_landlord_puts_its_locations_at_risk_until_granted_again(stack, http, backend):
    own = auth(await stack.client_token(http, org_type="municipality", scopes=WRITER, municipality_code=HOOGEVEEN))
    province = auth(await stack.client_token(http, org_type="province", scopes=("housing:read",), province_code="PV22"))
    nau = await certifier(stack, http, stack.gateway + "/certification")
    certificate = await make_certificate(nau, "granted", scheme="snf-housing")
    landlord = certificate["kvkNumber"]
    location = make_location(landlordKvkNumber=landlord, status="operational", beds=12, statusDate="2026-01-01")
    other = make_location(status="operational", beds=7)  # another landlord: never at risk
    for body in (location, other):
        response = await http.post(stack.gateway + "/housing/v1/housing-locations", json=body, headers=own)
        assert response.status_code == 201, response.text
    mip = auth(await stack.client_token(http, org_type="information-point", scopes=("registry:write",)))
    ids = []
    for _ in range(3):
        body = make_registration(**{"residence.municipalityCode": HOOGEVEEN, "work.municipalityCode": HOOGEVEEN})
        body["residence"]["housingLocationId"] = location["id"]
        created = await http.post(stack.gateway + "/registry/v1/registrations", json=body, headers=mip)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    residents = await record_keys(backend, ids)

    at_risk = stack.gateway + f"/housing/v1/at-risk?municipalityCode={HOOGEVEEN}"
    listed = stack.gateway + f"/housing/v1/housing-locations?atRisk=true&municipalityCode={HOOGEVEEN}"
    assert (await http.get(at_risk, headers=own)).json()["items"] == []

    suspended = await nau.post(
        f"/v1/certificates/{certificate['id']}/status-changes", {"status": "suspended", "reason": "x"}
    )
    assert suspended.status_code == 201, suspended.text

    async def listed_at_risk() -> Any:
        body = (await http.get(at_risk, headers=own)).json()
        return body if body["items"] else None

    report = await eventually(listed_at_risk)
    assert report is not None, "the suspension never reached the housing service"
    assert [i["id"] for i in report["items"]] == [location["id"]]
    item = report["items"][0]
    assert item["beds"] == 12 and item["residentsAffected"] == {"count": 3, "exact": True}
    assert item["risks"][0]["reason"] == "suspended" and item["risks"][0]["scheme"] == "snf-housing"
    assert item["risks"][0]["certificateId"] == certificate["id"] and item["risks"][0]["eventId"]
    assert report["residentsAffected"] == {"count": 3, "exact": True}  # the only municipality in it: its own
    assert report["municipalities"] == [
        {"municipalityCode": HOOGEVEEN, "locations": 1, "beds": 12, "residentsAffected": {"count": 3, "exact": True}}
    ]
    assert report["beds"] == 12 and report["stale"] is False
    assert report["disclosureControl"] == {"method": "cell-key", "threshold": 5, "maximumDeviation": 2}
    page = (await http.get(listed, headers=own)).json()
    assert [i["id"] for i in page["items"]] == [location["id"]] and page["items"][0]["atRisk"] is True
    # Outside the municipality the three residents go through the ptable with their records' keys: 0 or 5.
    outside = (await http.get(at_risk, headers=province)).json()
    perturbed = {"count": TABLE.published(3, cell_key(residents)), "exact": False}
    assert perturbed["count"] in (0, TABLE.threshold)
    assert outside["items"][0]["residentsAffected"] == perturbed
    assert outside["municipalities"][0]["residentsAffected"] == perturbed  # the same records: the same cell
    assert outside["residentsAffected"] == perturbed

    granted = await nau.post(
        f"/v1/certificates/{certificate['id']}/status-changes", {"status": "granted", "reason": "ok"}
    )
    assert granted.status_code == 201, granted.text

    async def cleared() -> bool:
        return (await http.get(at_risk, headers=own)).json()["items"] == []

    assert await eventually(cleared)
    assert (await http.get(listed, headers=own)).json()["items"] == []
    assert_problem(await http.get(stack.gateway + "/housing/v1/at-risk", headers=own), 400, "invalid-input")
    assert_problem(await http.get(stack.gateway + "/housing/v1/at-risk?regionCode=nowhere", headers=own), 404)


def _event(event_id: str, certificate_id: str, kvk: str, status: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "source": "urn:lmx:certification",
        "type": "certificate.status-changed",
        "time": datetime.now(UTC).isoformat(),
        "data": {"certificateId": certificate_id, "kvkNumber": kvk, "scheme": "snf-housing", "status": status,
                 "effectiveDate": "2026-11-01"},
    }  # fmt: skip


async def test_processing_the_same_event_twice_changes_nothing(backend):
    database = Database(backend.urls["housing"])
    certificate, kvk = str(uuid.uuid4()), f"{uuid.uuid4().int % 10**8:08d}"
    revoked, granted = (
        _event(str(uuid.uuid4()), certificate, kvk, "revoked"),
        _event(str(uuid.uuid4()), certificate, kvk, "granted"),
    )
    try:
        async with database.sessionmaker() as session, session.begin():
            assert await feed_consumer.apply_event(session, revoked) is True
            assert await feed_consumer.apply_event(session, granted) is True
        async with database.sessionmaker() as session, session.begin():
            # Delivered again (a replay, a second replica): nothing moves back to revoked.
            assert await feed_consumer.apply_event(session, revoked) is False
        async with database.sessionmaker() as session:
            standing = await session.get(CertificateStanding, certificate)
            assert standing is not None and standing.status == "granted" and standing.event_id == granted["id"]
        # A page read from a cursor another replica has moved past is not applied.
        async with database.sessionmaker() as session, session.begin():
            current = await repository.feed_cursor(session, feed_consumer.FEED, for_update=True)
            applied = await feed_consumer.apply_page(
                session, f"{current}-not-the-cursor", {"items": [revoked], "next": "x"}
            )
            assert applied == 0
            assert await repository.feed_cursor(session, feed_consumer.FEED) == current
    finally:
        await database.dispose()


class _FeedThatForgotOurCursor:
    """The certification feed after its cursor key changed: our stored cursor is a 400."""

    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []

    async def get_json(self, path: str, params: Any = ()) -> dict[str, Any]:
        self.asked.append(dict(params))
        if dict(params).get("after") == "a-cursor-from-before":
            raise CursorRefused(f"{path} refused the cursor")
        return {"items": [], "next": "from-the-start"}


async def test_a_refused_feed_cursor_makes_the_consumer_read_again_from_the_start(backend):
    database = Database(backend.urls["housing"])
    feed = _FeedThatForgotOurCursor()
    try:
        async with database.sessionmaker() as session, session.begin():
            await repository.feed_cursor(session, feed_consumer.FEED, for_update=True)
            await repository.move_cursor(session, feed_consumer.FEED, "a-cursor-from-before")
        assert await feed_consumer.poll_once(database, feed, 10) == (0, 0)  # type: ignore[arg-type]
        async with database.sessionmaker() as session:
            assert await repository.feed_cursor(session, feed_consumer.FEED) is None
        await feed_consumer.poll_once(database, feed, 10)  # type: ignore[arg-type]
        assert feed.asked == [{"limit": 10, "after": "a-cursor-from-before"}, {"limit": 10}]
    finally:
        await database.dispose()


def test_the_gateway_client_tells_a_refused_cursor_from_other_400s():
    import httpx

    from services.housing.clients import _names_param

    refused = httpx.Response(400, json={"status": 400, "invalidParams": [{"name": "after", "reason": "forged"}]})
    other = httpx.Response(400, json={"status": 400, "invalidParams": [{"name": "limit", "reason": "too big"}]})
    assert _names_param(refused, "after") and not _names_param(other, "after")
    assert not _names_param(httpx.Response(400, text="not json"), "after")


async def test_residents_affected_in_a_region_are_unions_of_cells(stack, http, backend):
    """Two municipalities of a region, one landlord: each location and municipality is a cell exact for its
    own municipality; the region's total is the union of both, exact for neither (it concerns two)."""
    first, second = "GM1680", "GM1681"  # Aa en Hunze, Borger-Odoorn; the locations and their residents are new
    region = f"test-{uuid.uuid4().hex[:10]}"
    database = Database(backend.urls["housing"])
    try:
        async with database.sessionmaker() as session, session.begin():
            session.add(Region(code=region, name="Test region", kind="region", lagging_factor=0.8))
            await session.flush()
            session.add_all(RegionMember(region_code=region, municipality_code=m) for m in (first, second))
    finally:
        await database.dispose()
    tokens = {
        m: auth(await stack.client_token(http, org_type="municipality", scopes=WRITER, municipality_code=m))
        for m in (first, second)
    }
    nau = await certifier(stack, http, stack.gateway + "/certification")
    certificate = await make_certificate(nau, "granted", scheme="snf-housing")
    mip = auth(await stack.client_token(http, org_type="information-point", scopes=("registry:write",)))
    keys: dict[str, list[int]] = {}
    for municipality, people in ((first, 3), (second, 4)):
        body = make_location(landlordKvkNumber=certificate["kvkNumber"], status="operational", beds=10)
        created = await http.post(
            stack.gateway + "/housing/v1/housing-locations", json=body, headers=tokens[municipality]
        )
        assert created.status_code == 201, created.text
        ids = []
        for _ in range(people):
            registration = make_registration(
                **{"residence.municipalityCode": municipality, "work.municipalityCode": municipality}
            )
            registration["residence"]["housingLocationId"] = body["id"]
            response = await http.post(stack.gateway + "/registry/v1/registrations", json=registration, headers=mip)
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        keys[municipality] = await record_keys(backend, ids)
    suspended = await nau.post(
        f"/v1/certificates/{certificate['id']}/status-changes", {"status": "suspended", "reason": "x"}
    )
    assert suspended.status_code == 201, suspended.text
    url = stack.gateway + f"/housing/v1/at-risk?regionCode={region}"

    async def both_listed() -> Any:
        body = (await http.get(url, headers=tokens[first])).json()
        return body if len(body["items"]) == 2 else None

    report = await eventually(both_listed)
    assert report is not None, "the suspension never reached the housing service"

    def cell(municipality: str, viewer: str | None) -> dict[str, Any]:
        n, key = len(keys[municipality]), cell_key(keys[municipality])
        return (
            {"count": n, "exact": True}
            if municipality == viewer
            else {"count": TABLE.published(n, key), "exact": False}
        )

    everybody = keys[first] + keys[second]
    total = {"count": TABLE.published(len(everybody), cell_key(everybody)), "exact": False}
    province = auth(await stack.client_token(http, org_type="province", scopes=("housing:read",), province_code="PV22"))
    for viewer, headers in ((first, tokens[first]), (None, province)):
        seen = (await http.get(url, headers=headers)).json()
        assert {i["municipalityCode"]: i["residentsAffected"] for i in seen["items"]} == {
            m: cell(m, viewer) for m in (first, second)
        }
        assert {m["municipalityCode"]: m["residentsAffected"] for m in seen["municipalities"]} == {
            m: cell(m, viewer) for m in (first, second)
        }
        assert seen["residentsAffected"] == total  # two municipalities in it: perturbed for both
        assert seen["beds"] == 20 and seen["locations"] == 2
