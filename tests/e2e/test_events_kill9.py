"""The delivery worker survives kill -9: an event committed while the receiver is down is delivered
after the service restarts, and a receiver that deduplicates by webhook-id processes it once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from lmx_common.migrations import upgrade
from tests.conftest import Backend, create_postgres_databases, drop_postgres_databases
from tests.support.servers import free_port
from tests.support.webhooks import eventually, receiver

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def fresh_certification_db(backend: Backend, tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own, so no other worker (the in-process stack's) delivers for us."""
    if backend.name == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/certification.db"
        await asyncio.to_thread(upgrade, "certification", url)
        yield url
        return
    urls = await asyncio.to_thread(create_postgres_databases, f"lmx_k9_{uuid.uuid4().hex[:8]}")
    try:
        await asyncio.to_thread(upgrade, "certification", urls["certification"])
        yield urls["certification"]
    finally:
        await asyncio.to_thread(drop_postgres_databases, urls)


@contextmanager
def certification_process(database_url: str, gateway: str, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = os.environ | {
        "CERTIFICATION_DATABASE_URL": database_url,
        "CERTIFICATION_JWKS_URL": gateway + "/.well-known/jwks.json",
        "CERTIFICATION_TOKEN_ISSUER": gateway,
        "CERTIFICATION_EVENT_POLL_SECONDS": "0.1",
        "CERTIFICATION_WEBHOOK_BACKOFF_SECONDS": "0.2",
        "CERTIFICATION_WEBHOOK_BACKOFF_MAX_SECONDS": "0.4",
        "CERTIFICATION_WEBHOOK_MAX_ATTEMPTS": "1000",
        "CERTIFICATION_WEBHOOK_TIMEOUT_SECONDS": "1",
        "CERTIFICATION_WEBHOOK_LEASE_SECONDS": "3",
        "CERTIFICATION_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",  # the receiver is local
    }
    command = [sys.executable, "-m", "uvicorn", "services.certification.main:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with log.open("ab") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


async def _until_live(http: httpx.AsyncClient, base: str, process: subprocess.Popen[bytes]) -> None:
    async def live() -> bool:
        assert process.poll() is None, "the service exited"
        try:
            return (await http.get(base + "/health/live")).status_code == 200
        except httpx.TransportError:
            return False

    await eventually(live, timeout=30, interval=0.1)


async def test_an_event_committed_before_kill_9_is_delivered_once_after_restart(
    stack, http, fresh_certification_db, tmp_path
):
    token = await stack.client_token(http, scopes=("events:read", "reports:write"))
    headers = {"Authorization": f"Bearer {token}"}
    receiver_port, service_port = free_port(), free_port()
    base = f"http://127.0.0.1:{service_port}"
    log = tmp_path / "certification.log"

    with certification_process(fresh_certification_db, stack.gateway, service_port, log) as first:
        await _until_live(http, base, first)
        subscription = await http.post(
            base + "/v1/subscriptions",
            json={"callbackUrl": f"http://127.0.0.1:{receiver_port}/hook", "eventTypes": ["report.created"]},
            headers=headers,
        )
        assert subscription.status_code == 201, subscription.text
        path = f"/v1/subscriptions/{subscription.json()['id']}"
        created = await http.post(
            base + "/v1/reports",
            json={
                "kvkNumber": "70070070",
                "municipalityCode": "GM1655",
                "category": "coercion",
                "description": "Passports kept by the employer.",
                "observedOn": "2026-11-04",
            },
            headers=headers,
        )
        assert created.status_code == 201, created.text  # committed: the event is in the outbox
        report_id = created.json()["id"]

        async def failing() -> bool:  # the receiver is down: attempts fail and are rescheduled
            state = (await http.get(base + path, headers=headers)).json()["deliveryState"]
            return bool(state["failedAttempts"] >= 2 and state["pending"] == 1)

        await eventually(failing, timeout=15)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        assert first.returncode == -signal.SIGKILL

    with (
        certification_process(fresh_certification_db, stack.gateway, service_port, log) as second,
        receiver(port=receiver_port) as hooks,
    ):
        await _until_live(http, base, second)
        [delivery] = await eventually(lambda: hooks.matching(reportId=report_id), timeout=20)
        await asyncio.sleep(1.0)  # any duplicate would arrive now
        assert len(hooks.matching(reportId=report_id)) == 1
        assert {r.headers["webhook-id"] for r in hooks.requests} == {delivery.headers["webhook-id"]}
        state = (await http.get(base + path, headers=headers)).json()["deliveryState"]
        assert state["delivered"] == 1 and state["pending"] == 0 and state["deadLettered"] == 0
        second.send_signal(signal.SIGTERM)
