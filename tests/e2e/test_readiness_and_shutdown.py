"""Readiness tells the truth and SIGTERM loses nothing (issue 17, points 3 and 5; ADR 0030).

Real processes, started as `lmx up` starts them (uvicorn with the same arguments):

- on EMPTY databases the gateway and the three services start, are live (200) and not ready (503),
  answer every other request 503 problem+json, and their background loops wait quietly; once
  migrated (``upgrade``, what `lmx migrate` runs) they become ready on their own, the gateway makes
  its signing key and issues tokens the services accept;
- under a bounded concurrent load of writes, SIGTERM flips readiness to 503 at once while every
  request accepted is answered 201 and stored; after the drain delay new connections are refused.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import column, select, table

from gateway.clients import NewClient, add_client
from lmx_cli.stack import APPS, UVICORN_ARGS
from lmx_common.db import Database
from lmx_common.migrations import DATABASES, upgrade
from tests.conftest import assert_problem, create_postgres_databases, drop_postgres_databases, require_postgres
from tests.support.housing import HOUSING_SERVICE_SCOPES
from tests.support.registrations import add_processing_activity, make_registration
from tests.support.servers import free_port

registrations = table("registrations", column("id"))
ROOT = Path(__file__).resolve().parents[2]


# As `lmx up` serves, but without its 5 s bound on the drain: the component's shutdown_timeout_seconds
# applies (a loaded CI machine can take longer than 5 s for a write through the gateway).
_GRACEFUL = UVICORN_ARGS.index("--timeout-graceful-shutdown")
SERVE_ARGS = UVICORN_ARGS[:_GRACEFUL] + UVICORN_ARGS[_GRACEFUL + 2 :]


@contextmanager
def component(name: str, port: int, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "uvicorn", APPS[name], "--factory", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*command, *SERVE_ARGS], cwd=ROOT, env=os.environ | env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


async def until(check: Any, timeout: float, what: str) -> float:
    """Wait until ``await check()`` is true; returns the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if await check():
            return time.monotonic() - start
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


async def live(http: httpx.AsyncClient, base: str, process: subprocess.Popen[bytes]) -> None:
    async def answers() -> bool:
        assert process.poll() is None, "the process exited"
        try:
            return (await http.get(base + "/health/live")).status_code == 200
        except httpx.TransportError:
            return False

    await until(answers, 90, f"{base} live")  # generous: a loaded CI machine imports slowly


def log_messages(log: Path) -> list[str]:
    """The events a process logged (its JSON lines); warnings and errors as "LEVEL: event"."""
    messages = []
    for line in log.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # uvicorn's two lines before the JSON handler is configured
        event = str(record.get("event", ""))
        messages.append(event if record.get("level") in ("info", "debug") else f"{record.get('level')}: {event}")
    return messages


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The four databases, created and empty: no tables, no alembic_version."""
    if request.param == "sqlite":
        yield {name: f"sqlite+aiosqlite:///{tmp_path}/{name}.db" for name in DATABASES}
        return
    require_postgres()
    urls = create_postgres_databases(f"lmx_empty_{uuid.uuid4().hex[:8]}")
    try:
        yield urls
    finally:
        drop_postgres_databases(urls)


SERVICES = ("registry", "certification", "housing")
HOUSING_CLIENT = "housing-ready"


async def test_every_component_waits_for_its_migrations_then_becomes_ready(
    empty_databases: dict[str, str], tmp_path: Path
) -> None:
    ports = {name: free_port() for name in ("gateway", *SERVICES)}
    base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    gateway = base["gateway"]
    housing_secret = uuid.uuid4().hex + uuid.uuid4().hex
    databases = {f"{name.upper()}_DATABASE_URL": url for name, url in empty_databases.items()}
    env = databases | {"GATEWAY_ISSUER": gateway, "GATEWAY_RATE_LIMIT": "100000/minute"}
    for name in SERVICES:
        env |= {f"GATEWAY_{name.upper()}_URL": base[name], f"{name.upper()}_TOKEN_ISSUER": gateway}
        env |= {f"{name.upper()}_JWKS_URL": gateway + "/.well-known/jwks.json"}
    # Every loop goes round fast, so that failing or spamming against an empty database would show.
    env |= {
        "REGISTRY_EVENT_POLL_SECONDS": "0.1",
        "REGISTRY_AUDIT_SEAL_INTERVAL_SECONDS": "0.2",
        "REGISTRY_ANONYMISE_INTERVAL_SECONDS": "0.2",
        "CERTIFICATION_EVENT_POLL_SECONDS": "0.1",
        "CERTIFICATION_EXPIRY_INTERVAL_SECONDS": "0.2",
        "HOUSING_EVENT_POLL_SECONDS": "0.2",
        "HOUSING_GATEWAY_URL": gateway,
        "HOUSING_CLIENT_ID": HOUSING_CLIENT,
        "HOUSING_CLIENT_SECRET": housing_secret,
    }
    logs = {name: tmp_path / f"{name}.log" for name in ports}
    with ExitStack() as running:
        processes = {
            name: running.enter_context(component(name, port, env, logs[name])) for name, port in ports.items()
        }
        async with httpx.AsyncClient(timeout=10, event_hooks={"request": [add_processing_activity]}) as http:
            for name, process in processes.items():
                await live(http, base[name], process)

            for name in SERVICES:
                body = assert_problem(await http.get(base[name] + "/health/ready"), 503, "service-unavailable")
                assert body["checks"] == {"database": "up", "schema": "down"}, (name, body)
                # Every other request: 503 problem+json with Retry-After, not an error from a missing table.
                other = await http.get(base[name] + "/v1/openapi.json")
                assert_problem(other, 503, "service-unavailable")
                assert other.headers["retry-after"] == "5"
            body = assert_problem(await http.get(gateway + "/health/ready"), 503, "service-unavailable")
            assert body["checks"]["schema"] == "down" and body["checks"]["keys"] == "down", body
            token = await http.post(gateway + "/oauth/token", data={"grant_type": "client_credentials"})
            assert_problem(token, 503, "service-unavailable")
            assert token.headers["retry-after"] == "5"

            await asyncio.sleep(2)  # the loops (every 0.1-0.2 s) would have failed ~20 times by now
            assert all(process.poll() is None for process in processes.values())

            # The gateway first (so the housing service's client exists when its consumer starts), then the rest.
            await asyncio.to_thread(upgrade, "gateway", empty_databases["gateway"])  # what `lmx migrate` runs
            await add_client_with(empty_databases["gateway"], HOUSING_CLIENT, "service", HOUSING_SERVICE_SCOPES,
                                  secret=housing_secret)  # fmt: skip
            for name in SERVICES:
                await asyncio.to_thread(upgrade, name, empty_databases[name])

            async def ready(url: str) -> bool:
                return (await http.get(url + "/health/ready")).status_code == 200

            # Looked at again with backoff capped at 3 s (lmx_common/lifecycle.py): well within 10 s.
            for name in (*SERVICES, "gateway"):
                await until(lambda name=name: ready(base[name]), 10, f"{name} ready after the migrations")
            for name in SERVICES:
                answer = await http.get(base[name] + "/health/ready")
                assert answer.json() == {"status": "up", "checks": {"database": "up", "schema": "up"}}
            checks = (await http.get(gateway + "/health/ready")).json()["checks"]
            assert checks == dict.fromkeys(("database", "schema", "keys", *SERVICES), "up")

            # The gateway made its signing key itself and now issues tokens the services accept.
            jwks = (await http.get(gateway + "/.well-known/jwks.json")).json()
            assert len(jwks["keys"]) == 1
            secret = await add_client_with(empty_databases["gateway"], "test-ready", "municipality", ("registry:read",))
            issued = await http.post(
                gateway + "/oauth/token", data={"grant_type": "client_credentials"}, auth=("test-ready", secret)
            )
            assert issued.status_code == 200, issued.text
            headers = {"Authorization": f"Bearer {issued.json()['access_token']}"}
            read = await http.get(gateway + "/registry/v1/registrations", headers=headers)
            assert read.status_code == 200, read.text
            assert read.json()["items"] == []

    # Waiting was quiet: one line that it waits and one that it is over, no failure of any loop.
    for name, log in logs.items():
        messages = log_messages(log)
        assert messages.count("waiting for the database schema (run the migrations)") == 1, (name, messages)
        assert messages.count("database schema at head") == 1, (name, messages)
        assert not [m for m in messages if ": " in m], (name, messages)  # no warning, no error


async def add_client_with(
    url: str, client_id: str, kind: str, scopes: tuple[str, ...], secret: str | None = None
) -> str:
    municipality = "GM1655" if kind == "municipality" else None
    new = NewClient(client_id, "Test client", f"00000099{uuid.uuid4().int % 10**12:012d}", kind, scopes, municipality)
    database = Database(url)
    try:
        async with database.sessionmaker() as session, session.begin():
            _, given = await add_client(session, new, with_secret=True, given_secret=secret)
    finally:
        await database.dispose()
    assert given is not None
    return given


DRAIN_DELAY = 3.0  # seconds between SIGTERM and uvicorn closing its listener (shutdown_delay_seconds)
WORKERS = 50


@dataclass
class Load:
    """What a bounded concurrent load of writes saw around a SIGTERM."""

    created: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refused_after_close: int = 0
    in_flight_at_signal: int = 0
    ready_during_drain: list[int] = field(default_factory=list)
    live_during_drain: list[int] = field(default_factory=list)


async def probe_during_drain(base: str, close_at: float, load: Load) -> None:
    """Fresh connections, as a load balancer's probes: readiness 503 at once, liveness still 200."""
    async with httpx.AsyncClient(timeout=5, headers={"Connection": "close"}) as probe:
        while time.monotonic() < close_at - 0.3:
            try:
                ready = await probe.get(base + "/health/ready")
                load.ready_during_drain.append(ready.status_code)
                if ready.status_code == 503:
                    assert_problem(ready, 503, "service-unavailable")
                    assert ready.json()["checks"] == {"shutdown": "down"}
                    assert ready.headers["connection"] == "close"
                load.live_during_drain.append((await probe.get(base + "/health/live")).status_code)
            except httpx.TransportError:
                if time.monotonic() >= close_at:  # a slow machine: the probe went out after the close
                    return
                raise
            await asyncio.sleep(0.2)


async def write_through_sigterm(
    process: subprocess.Popen[bytes], base: str, path: str, token: str, shutdown_delay: float
) -> Load:
    """WORKERS writers post registrations back to back; SIGTERM half a second in. They go on through
    the drain delay and past the close of the listener (SIGTERM + delay), each until its first request
    without an answer. Every request sent before the close must be answered 201 (those in flight at
    SIGTERM, those accepted during the delay); a request without an answer counts as refused only when
    it failed after the close. A readiness poller records what a load balancer would see."""
    load = Load()
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=WORKERS + 5)
    async with httpx.AsyncClient(timeout=20, limits=limits, event_hooks={"request": [add_processing_activity]}) as http:
        assert (await http.get(base + "/health/ready")).status_code == 200
        stop_at = close_at = float("inf")
        in_flight = 0

        async def writer() -> None:
            nonlocal in_flight
            while time.monotonic() < stop_at:
                in_flight += 1
                try:
                    response = await http.post(base + path, json=make_registration(), headers=headers)
                except httpx.TransportError as exc:
                    # No answer: allowed only once the listener is closed (a new connection refused, or
                    # one the kernel queued but uvicorn never took); anything uvicorn read it answers.
                    if time.monotonic() >= close_at:
                        load.refused_after_close += 1
                    else:
                        load.errors.append(f"{type(exc).__name__} before the listener closed")
                    return
                finally:
                    in_flight -= 1
                if response.status_code == 201:
                    load.created.append(response.json()["id"])
                else:
                    load.errors.append(f"{response.status_code} {response.text[:200]}")

        writers = [asyncio.create_task(writer()) for _ in range(WORKERS)]
        await asyncio.sleep(0.5)
        in_flight_before = len(load.created)
        load.in_flight_at_signal = in_flight
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        close_at = signalled + shutdown_delay  # uvicorn's exit flag is set then (its loop ticks every 0.1 s)
        stop_at = close_at + 1.0  # the writers go on through the close: each stops at its first refusal
        try:
            await probe_during_drain(base, close_at, load)
            await asyncio.wait_for(asyncio.gather(*writers), 30)
        finally:
            for task in writers:
                task.cancel()
        assert len(load.created) > in_flight_before, "no write was accepted during the drain"
        # After the delay uvicorn stops accepting: a new connection is refused.
        with pytest.raises(httpx.ConnectError):
            await http.get(base + "/health/live", headers={"Connection": "close"})
    return load


def assert_drained(load: Load, process: subprocess.Popen[bytes], log: Path) -> None:
    assert load.errors == [], load.errors
    assert load.refused_after_close > 0, "the load did not go on until the listener closed"
    assert load.created, "nothing was written"
    assert load.in_flight_at_signal > 0, "no request was in flight at SIGTERM"
    assert load.ready_during_drain and set(load.ready_during_drain) == {503}, load.ready_during_drain
    assert set(load.live_during_drain) <= {200}, load.live_during_drain
    # uvicorn ends a SIGTERM'd process by re-raising the signal once it has shut down gracefully.
    assert process.wait(timeout=30) in (0, -signal.SIGTERM)
    messages = log_messages(log)
    assert "draining" in messages, messages
    assert not [m for m in messages if ": " in m], messages  # no warning, no error (nor a cancelled task)


async def assert_stored(url: str, ids: list[str]) -> None:
    """Each registration answered 201 is in the registry's database (committed before the answer)."""
    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            found = (await connection.execute(select(registrations.c.id).where(registrations.c.id.in_(ids)))).scalars()
            assert sorted(found) == sorted(ids)
    finally:
        await database.dispose()


def registry_env(stack: Any, **extra: str) -> dict[str, str]:
    issuer = stack.gateway_settings.issuer
    return {
        "REGISTRY_DATABASE_URL": stack.database_urls["registry"],
        "REGISTRY_JWKS_URL": issuer + "/.well-known/jwks.json",
        "REGISTRY_TOKEN_ISSUER": issuer,
        "REGISTRY_SHUTDOWN_DELAY_SECONDS": str(DRAIN_DELAY),
        "REGISTRY_SHUTDOWN_TIMEOUT_SECONDS": "20",
        "REGISTRY_EVENT_POLL_SECONDS": "0.1",
        # The shared database holds every other test's registrations: this process must not anonymise
        # (or delete) any of them; the test is about its requests.
        "REGISTRY_ANONYMISE_INTERVAL_SECONDS": "0",
    } | extra


# A second process on the session's database: PostgreSQL only (SQLite is the embedded, one-process default;
# a second process on the shared SQLite files broke later tests' connections).
@pytest.mark.postgres
async def test_sigterm_to_a_service_under_load_loses_no_accepted_request(stack: Any, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(timeout=10) as http:
        token = await stack.client_token(http, org_type="information-point", scopes=("registry:read", "registry:write"))
        log = tmp_path / "registry.log"
        with component("registry", port, registry_env(stack), log) as process:
            await live(http, base, process)
            load = await write_through_sigterm(process, base, "/v1/registrations", token, DRAIN_DELAY)
            assert_drained(load, process, log)
    await assert_stored(stack.database_urls["registry"], load.created)


# A second process on the session's database: PostgreSQL only (SQLite is the embedded, one-process default;
# a second process on the shared SQLite files broke later tests' connections).
@pytest.mark.postgres
async def test_sigterm_to_the_gateway_under_load_loses_no_accepted_request(stack: Any, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = stack.gateway_settings
    registry_port = free_port()
    registry = f"http://127.0.0.1:{registry_port}"
    env = {
        "GATEWAY_DATABASE_URL": stack.database_urls["gateway"],  # the same keys and clients
        "GATEWAY_ISSUER": settings.issuer,
        "GATEWAY_REGISTRY_URL": registry,  # a registry process of its own, not stopped
        "GATEWAY_CERTIFICATION_URL": stack.certification,
        "GATEWAY_HOUSING_URL": stack.housing,
        "GATEWAY_RATE_LIMIT": "100000/minute",
        "GATEWAY_SHUTDOWN_DELAY_SECONDS": str(DRAIN_DELAY),
        "GATEWAY_SHUTDOWN_TIMEOUT_SECONDS": "20",
    }
    async with httpx.AsyncClient(timeout=10) as http:
        token = await stack.client_token(http, org_type="information-point", scopes=("registry:read", "registry:write"))
        log = tmp_path / "gateway.log"
        upstream_env = registry_env(stack, REGISTRY_SHUTDOWN_DELAY_SECONDS="0")
        with (
            component("registry", registry_port, upstream_env, tmp_path / "registry.log") as upstream,
            component("gateway", port, env, log) as process,
        ):
            await live(http, registry, upstream)
            await live(http, base, process)
            load = await write_through_sigterm(process, base, "/registry/v1/registrations", token, DRAIN_DELAY)
            assert_drained(load, process, log)
    await assert_stored(stack.database_urls["registry"], load.created)
