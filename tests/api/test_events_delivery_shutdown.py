"""At shutdown the delivery worker lets the round under way finish: a webhook being sent when the
service stops is recorded as delivered, not left claimed for a resend after its lease (ADR 0030)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lmx_common.db import Database
from lmx_common.events import delivery_worker, publish
from lmx_common.events.settings import EventSettings
from lmx_common.events.subscriptions import new_secret
from lmx_common.events.tables import DELIVERED
from lmx_common.migrations import upgrade
from services.certification.events import EVENTS
from tests.support.db import rows
from tests.support.servers import serve


def slow_receiver(arrived: threading.Event, seconds: float) -> Any:
    """Answers 200, ``seconds`` after a webhook arrived."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        while (await receive()).get("more_body"):
            pass
        arrived.set()
        await asyncio.sleep(seconds)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    return app


async def subscription_with_event(database: Database, callback_url: str) -> str:
    subscription_id = str(uuid.uuid4())
    async with database.sessionmaker() as session, session.begin():
        session.add(
            EVENTS.subscription(
                id=subscription_id,
                client_id="shutdown-test",
                organisation_oin="00000099000000000001",
                callback_url=callback_url,
                event_types=["report.created"],
                secret=new_secret(),
                created_at=datetime.now(UTC) - timedelta(seconds=1),
            )
        )
        await publish(
            session,
            EVENTS,
            type="report.created",
            subject="reports/x",
            data={"reportId": subscription_id, "kvkNumber": "12345678", "municipalityCode": "GM1655"},
        )
    return subscription_id


async def test_a_webhook_being_sent_at_shutdown_is_recorded_as_delivered(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/certification.db"
    await asyncio.to_thread(upgrade, "certification", url)
    arrived = threading.Event()
    settings = EventSettings(event_poll_seconds=0.05, webhook_timeout_seconds=5.0, webhook_allowed_hosts=("127.0.0.1",))
    database = Database(url)
    try:
        with serve(slow_receiver(arrived, 0.8)) as receiver:
            subscription_id = await subscription_with_event(database, receiver + "/hook")
            async with delivery_worker(database, EVENTS, settings):
                async with asyncio.timeout(10):
                    while not arrived.is_set():
                        await asyncio.sleep(0.02)
            # The block (the service's lifespan) ended while the receiver was still answering.
    finally:
        await database.dispose()
    [delivery] = await rows(url, "SELECT * FROM event_deliveries WHERE subscription_id = :s", s=subscription_id)
    assert delivery["status"] == DELIVERED
    assert delivery["attempts"] == 1 and delivery["last_status_code"] == 200 and delivery["last_error"] is None
