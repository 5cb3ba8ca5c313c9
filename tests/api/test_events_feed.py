"""The CloudEvents feed: envelope, cursors that resume exactly, and no skips under concurrent writers."""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

import pytest
from cloudevents.core.formats.json import JSONFormat
from sqlalchemy import select

from lmx_common.db import Database
from lmx_common.events import publish
from services.certification.events import EVENTS
from tests.conftest import assert_problem
from tests.support.certification import api

EVENT_SCOPES = ("events:read", "certification:read")


async def _reader(stack, http):
    return await api(stack, http, org_type="service", scopes=EVENT_SCOPES)


async def _publish_one(database: Database, marker: str, n: int) -> str:
    async with database.sessionmaker() as session, session.begin():
        return await publish(
            session, EVENTS, type="report.status-changed", subject=f"reports/{marker}", data={"marker": marker, "n": n}
        )


async def _read_all(reader, after: str = "", limit: int = 500) -> tuple[list[dict], str]:
    """Follow `next` until a page is empty; returns the events and the final cursor."""
    events: list[dict] = []
    cursor = after
    while True:
        page = await reader.get(f"/v1/events?after={cursor}&limit={limit}")
        assert page.status_code == 200, page.text
        body = page.json()
        events += body["items"]
        assert body["_links"]["next"]["href"].startswith("/v1/events?after=")
        if not body["items"]:
            assert body["next"] == cursor or not cursor
            return events, body["next"]
        cursor = body["next"]


async def test_events_are_cloudevents_without_personal_data(stack, http):
    reader = await _reader(stack, http)
    _, start = await _read_all(reader)
    reporter = await api(stack, http, org_type="municipality", scopes=("reports:write",))
    description = "Mr. Jansen, born 1990-01-01, sleeps in a shed."
    created = await reporter.post(
        "/v1/reports",
        {
            "kvkNumber": "55512345",
            "municipalityCode": "GM1655",
            "category": "housing-conditions",
            "description": description,
            "observedOn": "2026-11-02",
        },
    )
    assert created.status_code == 201
    events, _ = await _read_all(reader, start)
    [event] = [e for e in events if e["data"].get("reportId") == created.json()["id"]]
    assert event["specversion"] == "1.0" and event["source"] == "urn:lmx:certification"
    assert event["type"] == "report.created" and event["subject"] == f"reports/{created.json()['id']}"
    assert event["datacontenttype"] == "application/json" and event["time"].endswith("Z")
    assert event["data"] == {
        "reportId": created.json()["id"],
        "kvkNumber": "55512345",
        "housingLocationId": None,
        "municipalityCode": "GM1655",
        "category": "housing-conditions",
        "status": "received",
    }
    assert "Jansen" not in str(events)
    parsed = JSONFormat().read(None, __import__("json").dumps(event))  # a valid CloudEvent to the SDK
    assert parsed.get_id() == event["id"]


async def test_the_feed_needs_the_events_scope_and_a_real_cursor(stack, http):
    outsider = await api(stack, http, org_type="municipality", scopes=("certification:read",))
    assert_problem(await outsider.get("/v1/events"), 403, "forbidden")
    reader = await _reader(stack, http)
    for cursor in ("garbage!!", "eyJ4IjoxfQ", "eyJwIjotMX0"):  # {"x":1}, {"p":-1}
        body = assert_problem(await reader.get(f"/v1/events?after={cursor}"), 400, "invalid-input")
        assert body["invalidParams"][0]["name"] == "after"
    assert_problem(await reader.get("/v1/events?limit=0"), 400, "invalid-input")


async def test_a_consumer_resuming_from_any_cursor_sees_every_later_event_once_in_order(stack, http, backend):
    reader = await _reader(stack, http)
    _, start = await _read_all(reader)
    database = Database(backend.urls["certification"])
    marker = uuid.uuid4().hex
    try:
        ids = [await _publish_one(database, marker, n) for n in range(12)]
    finally:
        await database.dispose()
    # Walk one event per page, remembering the cursor before each event.
    cursors = [start]
    walked: list[dict] = []
    while True:
        page = (await reader.get(f"/v1/events?after={cursors[-1]}&limit=1")).json()
        if not page["items"]:
            break
        walked += page["items"]
        cursors.append(page["next"])
    mine = [e["id"] for e in walked if e["data"].get("marker") == marker]
    assert mine == ids
    for i, cursor in enumerate(cursors):
        rest, _ = await _read_all(reader, cursor, limit=random.choice([1, 3, 5, 500]))
        assert [e["id"] for e in rest[: len(walked) - i]] == [e["id"] for e in walked[i:]]
        assert len({e["id"] for e in rest}) == len(rest)


@pytest.mark.postgres
async def test_a_late_commit_of_an_early_event_is_not_skipped(stack, http, backend):
    """T1 adds an event first but commits last; a consumer already past T2's event still sees T1's."""
    reader = await _reader(stack, http)
    _, cursor = await _read_all(reader)
    database = Database(backend.urls["certification"])
    marker = uuid.uuid4().hex
    try:
        async with database.sessionmaker() as early:
            await early.begin()
            early_id = await publish(early, EVENTS, type="report.created", subject=None, data={"marker": marker})
            late_id = await _publish_one(database, marker, 2)  # starts after, commits first
            seen, cursor = await _read_all(reader, cursor)
            assert [e["id"] for e in seen if e["data"].get("marker") == marker] == [late_id]
            await early.commit()
        after, _ = await _read_all(reader, cursor)
        assert [e["id"] for e in after if e["data"].get("marker") == marker] == [early_id]
    finally:
        await database.dispose()


@pytest.mark.postgres
async def test_concurrent_writers_never_make_the_feed_skip_or_repeat(stack, http, backend):
    reader = await _reader(stack, http)
    _, cursor = await _read_all(reader)
    database = Database(backend.urls["certification"])
    marker = uuid.uuid4().hex
    committed: list[str] = []
    seen: list[str] = []
    done = asyncio.Event()

    async def writer(w: int) -> None:
        for n in range(8):
            async with database.sessionmaker() as session, session.begin():
                event_id = await publish(
                    session, EVENTS, type="report.created", subject=None, data={"marker": marker, "w": w, "n": n}
                )
                await asyncio.sleep(random.uniform(0, 0.05))  # hold the transaction open a while
            committed.append(event_id)

    async def consumer() -> None:
        nonlocal cursor
        while True:
            finished = done.is_set()
            page = (await reader.get(f"/v1/events?after={cursor}&limit=7")).json()
            seen.extend(e["id"] for e in page["items"] if e["data"].get("marker") == marker)
            cursor = page["next"]
            if finished and not page["items"]:
                return
            await asyncio.sleep(0.005)

    try:
        reading = asyncio.create_task(consumer())
        await asyncio.gather(*(writer(w) for w in range(8)))
        done.set()
        await asyncio.wait_for(reading, 20)
    finally:
        await database.dispose()
    assert len(seen) == len(set(seen)), "an event was delivered twice"
    assert set(seen) == set(committed) and len(committed) == 64, "an event was skipped"


async def test_one_round_of_the_worker_sequences_a_bulk_import_backlog(backend):
    """A bulk import publishes thousands of events at once: one round sequences them all, not one batch
    of 500 per poll interval (which fell hours behind a 10,000/s import)."""
    import httpx

    from lmx_common.events import publish_many
    from lmx_common.events.delivery import DeliveryWorker, EventSettings

    database = Database(backend.urls["certification"])
    marker = uuid.uuid4().hex
    try:
        async with database.sessionmaker() as session, session.begin():
            backlog: list[tuple[str | None, dict[str, Any], list[str] | None]] = [
                (f"reports/{marker}", {"n": n}, None) for n in range(3000)
            ]
            ids = await publish_many(session, EVENTS, type="report.status-changed", events=backlog)
        async with httpx.AsyncClient() as client:
            await DeliveryWorker(database, EVENTS, EventSettings(), client).run_once()
        async with database.sessionmaker() as session:
            outbox = EVENTS.outbox
            positions = (await session.execute(select(outbox.position).where(outbox.id.in_(ids)))).scalars().all()
    finally:
        await database.dispose()
    assert len(positions) == 3000 and None not in positions
    assert len(set(positions)) == 3000
