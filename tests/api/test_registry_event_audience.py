"""Per-registration events go only to the parties entitled to the person (docs/decisions/0028): the
municipalities concerned and the registering organisation, in the feed and through webhooks. A client
with only events:read (national, inspectorate, certifier, a province) receives none of them; the
certification service's events still reach every events:read client."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import text

from lmx_common.db import Database
from lmx_common.events import feed
from tests.support.certification import Api, api, kvk
from tests.support.db import rows, scalar
from tests.support.registrations import make_registration
from tests.support.webhooks import Receiver, eventually, receiver

WRITER = ("registry:read", "registry:write", "events:read")
# Work and residence municipality of this file's registrations; GM0758 is where one moves to.
WORK, RESIDENCE, MOVED_TO, ELSEWHERE = "GM1709", "GM1719", "GM0758", "GM1655"


async def _clients(stack: Any, http: Any) -> dict[str, Api]:
    """One fresh client of each kind, at the registry through the gateway."""
    base = stack.gateway + "/registry"
    kinds: dict[str, dict[str, Any]] = {
        "point": {"org_type": "information-point", "scopes": WRITER},
        "other-point": {"org_type": "information-point", "scopes": WRITER},
        "work": {"org_type": "municipality", "municipality_code": WORK, "scopes": WRITER},
        "residence": {"org_type": "municipality", "municipality_code": RESIDENCE, "scopes": WRITER},
        "moved-to": {"org_type": "municipality", "municipality_code": MOVED_TO, "scopes": WRITER},
        "elsewhere": {"org_type": "municipality", "municipality_code": ELSEWHERE, "scopes": WRITER},
        "national": {"org_type": "national", "scopes": ("events:read", "registry:statistics")},
        "inspectorate": {"org_type": "inspectorate", "scopes": ("events:read",)},
        "certifier": {"org_type": "certifier", "scopes": ("events:read",)},
        "province": {
            "org_type": "province",
            "province_code": "PV30",  # the three municipalities' province: it sees them through the API
            "scopes": ("events:read", "registry:person-level", "registry:read"),
        },
    }
    return {name: await api(stack, http, base, fresh=True, **kind) for name, kind in kinds.items()}


async def _page(client: Api, cursor: str, limit: int = 500) -> dict[str, Any]:
    response = await client.get(f"/v1/events?after={cursor}&limit={limit}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["_links"]["next"]["href"].endswith(f"?after={body['next']}&limit={limit}")
    return body


async def _read_to_end(client: Api, cursor: str = "") -> tuple[list[dict[str, Any]], str]:
    """Follow `next` until it stops moving (a filtered page may be empty before the end)."""
    events: list[dict[str, Any]] = []
    for _ in range(1000):
        body = await _page(client, cursor)
        events += body["items"]
        if body["next"] == cursor:
            return events, cursor
        cursor = body["next"]
    raise AssertionError("the feed's cursor never stopped moving")


async def _register(point: Api, http: Any, stack: Any) -> None:
    """As the information point: one registration (work WORK, residence RESIDENCE) that moves to
    MOVED_TO and departs, and two more by bulk import: five events."""
    codes = {"work.municipalityCode": WORK, "residence.municipalityCode": RESIDENCE}
    created = await point.post("/v1/registrations", make_registration(**codes))
    assert created.status_code == 201, created.text
    url = f"/v1/registrations/{created.json()['id']}"
    moved = await http.patch(
        point.base + url,
        content=json.dumps({"residence": {"municipalityCode": MOVED_TO, "postcode": "4811AA"}}),
        headers=point.headers | {"Content-Type": "application/merge-patch+json", "If-Match": '"1"'},
    )
    assert moved.status_code == 200, moved.text
    departed = await point.post(
        url + "/departure",
        {"date": date.today().isoformat(), "reason": "job-lost", "destination": {"type": "unknown"}},
    )
    assert departed.status_code in (200, 201), departed.text
    bulk = await http.post(
        point.base + "/v1/registrations/bulk",
        content="\n".join(json.dumps(make_registration(**codes)) for _ in range(2)),
        headers=point.headers | {"Content-Type": "application/x-ndjson"},
    )
    assert bulk.status_code in (200, 201, 207) and bulk.json()["created"] == 2, bulk.text


CREATED = {"workMunicipalityCode": WORK, "residenceMunicipalityCode": RESIDENCE}
DEPARTED = {"workMunicipalityCode": WORK, "residenceMunicipalityCode": MOVED_TO}


async def test_the_feed_gives_a_registrations_events_only_to_its_municipalities_and_registering_point(stack, http):
    clients = await _clients(stack, http)
    start = {name: (await _read_to_end(client))[1] for name, client in clients.items()}
    await _register(clients["point"], http, stack)
    seen = {name: (await _read_to_end(client, start[name]))[0] for name, client in clients.items()}

    def events(name: str) -> list[tuple[str, dict[str, Any]]]:
        return [(e["type"], e["data"]) for e in seen[name]]

    everything = [
        ("registration.created", CREATED),
        ("registration.departed", DEPARTED),
        ("registration.created", CREATED),
        ("registration.created", CREATED),
    ]
    assert events("point") == everything  # the registering information point: all of its own
    assert events("work") == everything  # the work municipality throughout
    # The residence municipality until the move; the departure goes to where it lived when it left.
    assert events("residence") == [everything[0], everything[2], everything[3]]
    assert events("moved-to") == [everything[1]]
    for unentitled in ("other-point", "elsewhere", "national", "inspectorate", "certifier", "province"):
        assert events(unentitled) == [], unentitled
    ids = {e["id"] for e in seen["point"]}
    assert len(ids) == 4 and {e["id"] for e in seen["work"]} == ids
    for event in seen["point"]:  # municipality codes only: no person, no registration id
        assert set(event["data"]) == {"workMunicipalityCode", "residenceMunicipalityCode"}
        assert event.get("subject") is None

    latest = await rows(
        stack.database_urls["registry"],
        "SELECT id, audience FROM outbox_events WHERE position IS NOT NULL ORDER BY position DESC LIMIT 50",
    )
    stored = [r for r in reversed(latest) if r["id"] in ids]
    point = "oin:" + await _oin(stack, clients["point"])
    audiences = [json.loads(r["audience"]) if isinstance(r["audience"], str) else r["audience"] for r in stored]
    assert audiences[1] == sorted([f"municipality:{WORK}", f"municipality:{MOVED_TO}", point])
    created = sorted([f"municipality:{WORK}", f"municipality:{RESIDENCE}", point])
    assert audiences[0] == audiences[2] == audiences[3] == created


async def _oin(stack: Any, client: Api) -> str:
    """The organisation OIN in a client's token (the gateway's own claims, read without verifying)."""
    import jwt

    claims = jwt.decode(client.token, options={"verify_signature": False})
    return str(claims["org"])


async def test_an_unentitled_clients_feed_is_empty_with_a_cursor_that_moves_in_bounded_steps(
    stack, http, monkeypatch: pytest.MonkeyPatch
):
    clients = await _clients(stack, http)
    national, work = clients["national"], clients["work"]
    _, start = await _read_to_end(national)
    await _register(clients["point"], http, stack)

    # No request looks at more than SCAN_LIMIT positions: the unentitled reader walks the new events
    # two positions per page, each page empty, each with a `next` to go on from.
    monkeypatch.setattr(feed, "SCAN_LIMIT", 2)
    cursor, steps = start, []
    while True:
        body = await _page(national, cursor)
        assert body["items"] == []
        if body["next"] == cursor:
            break
        steps.append(feed.decode_position(body["next"]))
        cursor = body["next"]
    head = await scalar(stack.database_urls["registry"], "SELECT last_position FROM event_feed_state")
    before = feed.decode_position(start)
    assert steps and steps[-1] == head and head - before >= 4
    assert all(0 < b - a <= 2 for a, b in zip([before, *steps], steps, strict=False))
    # An entitled reader gets its events across the same bounded pages, none skipped.
    found, _ = await _read_to_end(work, start)
    expected = ["registration.created", "registration.departed"] + ["registration.created"] * 2
    assert [e["type"] for e in found] == expected


async def _subscribe(client: Api, url: str) -> dict[str, Any]:
    response = await client.post(
        "/v1/subscriptions",
        {"callbackUrl": url + "/hook", "eventTypes": ["registration.created", "registration.departed"]},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_webhooks_of_a_registrations_events_go_only_to_the_parties_entitled(stack, http):
    clients = await _clients(stack, http)
    names = ("point", "work", "residence", "moved-to", "national", "inspectorate", "certifier", "other-point")
    with (
        receiver() as point,
        receiver() as work,
        receiver() as residence,
        receiver() as moved,
        receiver() as national,
        receiver() as inspectorate,
        receiver() as certifier,
        receiver() as other,
    ):
        hooks: dict[str, Receiver] = dict(
            zip(names, (point, work, residence, moved, national, inspectorate, certifier, other), strict=True)
        )
        subscriptions = {name: await _subscribe(clients[name], hooks[name].url) for name in names}
        await _register(clients["point"], http, stack)

        def types(name: str) -> list[str]:
            return sorted(r.event["type"] for r in hooks[name].unique.values())

        await eventually(lambda: len(point.unique) == 4 and len(work.unique) == 4, timeout=15)
        await eventually(lambda: len(residence.unique) == 3 and len(moved.unique) == 1, timeout=15)
        assert types("point") == types("work") == ["registration.created"] * 3 + ["registration.departed"]
        assert types("moved-to") == ["registration.departed"]
        # Deliveries are made when events are sequenced, for every subscription at once: the ones
        # above arrived, so none exists, or will, for the unentitled subscriptions.
        url = stack.database_urls["registry"]
        for name in names:
            sid = subscriptions[name]["id"]
            stored = await scalar(url, "SELECT count(*) FROM event_deliveries WHERE subscription_id = :s", s=sid)
            listed = (await clients[name].get(f"/v1/subscriptions/{sid}/deliveries")).json()["items"]
            expected = {"point": 4, "work": 4, "residence": 3, "moved-to": 1}.get(name, 0)
            assert stored == len(listed) == expected, name

            async def recorded(client: Api = clients[name], sid: str = sid, expected: int = expected) -> bool:
                # The worker records an attempt's outcome just after the receiver has answered.
                state = (await client.get(f"/v1/subscriptions/{sid}")).json()["deliveryState"]
                return bool(state["delivered"] == expected and state["pending"] == 0)

            await eventually(recorded, timeout=10)
        await asyncio.sleep(0.5)  # a few more worker rounds: still nothing for them
        for name in ("national", "inspectorate", "certifier", "other-point"):
            assert hooks[name].requests == [], name
        parties = await rows(
            url, "SELECT parties FROM event_subscriptions WHERE id = :s", s=subscriptions["national"]["id"]
        )
        assert parties[0]["parties"] in ([], "[]")


async def test_a_delivery_made_before_audiences_existed_is_dropped_unsent(stack, http):
    """A pending delivery to an unentitled subscriber (made before rg0402, or dead-lettered and
    replayed) is dropped by the worker before any attempt."""
    clients = await _clients(stack, http)
    with receiver() as national, receiver() as work:
        barred = await _subscribe(clients["national"], national.url)
        allowed = await _subscribe(clients["work"], work.url)
        await _register(clients["point"], http, stack)
        await eventually(lambda: len(work.unique) == 4, timeout=15)
        url = stack.database_urls["registry"]
        [event] = await rows(
            url,
            "SELECT d.event_id, d.position FROM event_deliveries d WHERE d.subscription_id = :s "
            "ORDER BY d.position LIMIT 1",
            s=allowed["id"],
        )
        database = Database(url)
        try:
            async with database.engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO event_deliveries (subscription_id, event_id, position, status, attempts,"
                        " next_attempt_at, created_at) VALUES (:s, :e, :p, 'pending', 0, :now, :now)"
                    ),
                    {"s": barred["id"], "e": event["event_id"], "p": event["position"], "now": _now()},
                )
        finally:
            await database.dispose()

        async def gone() -> bool:
            left = await scalar(url, "SELECT count(*) FROM event_deliveries WHERE subscription_id = :s", s=barred["id"])
            return left == 0

        await eventually(gone, timeout=10)
        assert national.requests == []


def _now() -> datetime:
    return datetime.now(UTC)


async def test_certification_events_still_reach_every_events_reader(stack, http):
    """Events about companies have no audience: national, inspectorate and municipality readers all
    get them, in the feed and by webhook."""
    readers = {
        "national": await api(stack, http, fresh=True, org_type="national", scopes=("events:read",)),
        "inspectorate": await api(
            stack, http, fresh=True, org_type="inspectorate", scopes=("events:read", "reports:write")
        ),
        "municipality": await api(stack, http, fresh=True, org_type="municipality", scopes=("events:read",)),
    }
    starts = {name: (await _read_to_end(reader))[1] for name, reader in readers.items()}
    with receiver() as hooks:
        subscription = await readers["national"].post(
            "/v1/subscriptions", {"callbackUrl": hooks.url + "/hook", "eventTypes": ["report.created"]}
        )
        assert subscription.status_code == 201, subscription.text
        report = await readers["inspectorate"].post(
            "/v1/reports",
            {
                "kvkNumber": kvk(),
                "municipalityCode": ELSEWHERE,
                "category": "underpayment",
                "description": "Paid below minimum wage.",
                "observedOn": "2026-11-03",
            },
        )
        assert report.status_code == 201, report.text
        report_id = report.json()["id"]
        await eventually(lambda: hooks.matching(reportId=report_id))
    for name, reader in readers.items():
        found, _ = await _read_to_end(reader, starts[name])
        assert [e["data"]["reportId"] for e in found if e["type"] == "report.created"] == [report_id], name
    stored = await scalar(
        stack.database_urls["certification"],
        "SELECT count(*) FROM outbox_events WHERE audience IS NOT NULL",
    )
    assert stored == 0
