"""A bulk upload is refused while it streams in, and a large valid one does not hold up other callers.

A registry of its own runs as a real server in a thread (on the stack's database and keys), wrapped in
a meter that counts the body bytes the application pulled (ASGI `receive`): "not read" means the
application never asked for them. The client still sends them (uvicorn discards what follows a
response), so the meter, not the client, tells what was read. The unit side of the counting is in
tests/unit/test_registry_bulk_streaming.py.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from services.registry.config import RegistrySettings
from services.registry.main import create_app
from tests.conftest import assert_problem
from tests.support.registrations import make_registration
from tests.support.servers import serve

MAX_BYTES = 8 * 1024 * 1024  # this registry's REGISTRY_MAX_BULK_BYTES; the line limit is the default
NDJSON = {"Content-Type": "application/x-ndjson"}


class BodyMeter:
    """ASGI wrapper: counts the request body bytes the application received."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.received = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counted() -> dict[str, Any]:
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                self.received += len(message.get("body", b""))
            return message

        await self.app(scope, counted, send)


@dataclass
class Registry:
    url: str
    meter: BodyMeter
    headers: dict[str, str] = field(default_factory=dict)  # an information point's token
    reader: dict[str, str] = field(default_factory=dict)  # a municipality's (GM1655) token


@contextmanager
def metered_registry(stack: Any) -> Iterator[tuple[str, BodyMeter]]:
    settings = RegistrySettings(
        database_url=stack.database_urls["registry"],
        jwks_url=stack.gateway + "/.well-known/jwks.json",
        token_issuer=stack.gateway,
        max_bulk_bytes=MAX_BYTES,
    )
    meter = BodyMeter(create_app(settings))
    with serve(meter) as url:
        yield url, meter


@pytest.fixture(scope="module")
def served(stack: Any) -> Iterator[tuple[str, BodyMeter]]:
    with metered_registry(stack) as running:
        yield running


@pytest.fixture
async def registry(stack: Any, http: httpx.AsyncClient, served: tuple[str, BodyMeter]) -> Registry:
    writer = await stack.client_token(http, scopes=("registry:read", "registry:write"), org_type="information-point")
    reader = await stack.client_token(http, scopes=("registry:read",), municipality_code="GM1655")
    url, meter = served
    meter.received = 0
    # Each names its processing activity (ADR 0024): the information point its own, the municipality consulting.
    return Registry(
        url + "/v1",
        meter,
        {"Authorization": f"Bearer {writer}", "X-Processing-Activity": "lmx-information-point"},
        {"Authorization": f"Bearer {reader}", "X-Processing-Activity": "lmx-consultation"},
    )


@pytest.mark.one_backend
async def test_600000_short_lines_are_refused_at_once_without_reading_them(registry, http):
    """Found from outside: 1.2 MB of one-character lines was parsed whole (5.4 s) before the 413."""
    body = b"a\n" * 600_000
    started = time.perf_counter()
    response = await http.post(registry.url + "/registrations/bulk", content=body, headers=registry.headers | NDJSON)
    elapsed = time.perf_counter() - started
    problem = assert_problem(response, 413, "payload-too-large")
    assert "At most 10000 lines" in problem["detail"]
    assert elapsed < 1.0, elapsed  # about 0.05 s; 5 s and more when the whole body was parsed first
    # Line 10,001 is at byte 20,002; what was read beyond it is at most what uvicorn had buffered.
    assert registry.meter.received < len(body) // 4, registry.meter.received


@pytest.mark.one_backend
async def test_a_streamed_body_over_the_byte_limit_is_refused_without_reading_it(registry, http):
    async def one_long_line() -> AsyncIterator[bytes]:  # no Content-Length: only reading can tell
        for _ in range(32):
            yield b"x" * (1024 * 1024)

    response = await http.post(
        registry.url + "/registrations/bulk", content=one_long_line(), headers=registry.headers | NDJSON
    )
    problem = assert_problem(response, 413, "payload-too-large")
    assert f"At most {MAX_BYTES} bytes" in problem["detail"]
    assert registry.meter.received <= MAX_BYTES + 256 * 1024, registry.meter.received


@pytest.mark.one_backend
async def test_a_declared_length_over_the_byte_limit_is_refused_before_reading(registry, http):
    body = b"x" * (MAX_BYTES + 1)
    response = await http.post(registry.url + "/registrations/bulk", content=body, headers=registry.headers | NDJSON)
    assert_problem(response, 413, "payload-too-large")
    assert registry.meter.received == 0
    # At the limit the body is read (and its one line answered as not JSON).
    within = await http.post(
        registry.url + "/registrations/bulk", content=body[:MAX_BYTES], headers=registry.headers | NDJSON
    )
    assert within.status_code == 200, within.text
    assert within.json()["invalid"] == 1


@pytest.mark.one_backend
async def test_the_line_limit_is_exact_and_counts_blank_lines(registry, http):
    url = registry.url + "/registrations/bulk"
    exactly = b"a\n" * 10_000  # 10,000 lines (not JSON: answered line by line)
    answered = await http.post(url, content=exactly, headers=registry.headers | NDJSON)
    assert answered.status_code == 200, answered.text
    assert answered.json()["invalid"] == 10_000
    for more in (b"a", b"\n"):
        refused = await http.post(url, content=exactly + more, headers=registry.headers | NDJSON)
        assert_problem(refused, 413, "payload-too-large")


@pytest.mark.one_backend
async def test_a_million_lines_are_refused_without_growing_the_process(registry, http):
    """Found from outside: 1,000,000 lines (2 MB) took the registry to 577 MB before the 413."""
    body = b"a\n" * 1_000_000
    tracemalloc.start()
    try:
        response = await http.post(
            registry.url + "/registrations/bulk", content=body, headers=registry.headers | NDJSON
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_problem(response, 413, "payload-too-large")
    # Allocated meanwhile in this process (client and server): a few MB; the parsed lines were hundreds.
    assert peak < 30 * 1024 * 1024, peak


@pytest.mark.postgres  # on SQLite every read waits for the import's write lock (a read writes its log record)
async def test_other_callers_are_answered_while_a_large_valid_bulk_is_imported(registry, stack):
    """A municipality reads a registration over and over while 10,000 valid lines are imported: each
    read waits for at most a slice of the import, never for its validation as a whole."""
    async with httpx.AsyncClient(timeout=120) as http:
        created = await http.post(registry.url + "/registrations", json=make_registration(), headers=registry.headers)
        assert created.status_code == 201, created.text
        read_url = registry.url + f"/registrations/{created.json()['id']}"
        assert (await http.get(read_url, headers=registry.reader)).status_code == 200  # warm
        body = "\n".join(json.dumps(make_registration()) for _ in range(10_000)).encode()
        latencies: list[float] = []
        importing = True

        async def read_meanwhile() -> None:
            async with httpx.AsyncClient(timeout=120) as other:
                while importing:
                    started = time.perf_counter()
                    response = await other.get(read_url, headers=registry.reader)
                    if importing:
                        latencies.append(time.perf_counter() - started)
                    assert response.status_code == 200, response.text
                    await asyncio.sleep(0.02)

        reads = asyncio.create_task(read_meanwhile())
        started = time.perf_counter()
        response = await http.post(
            registry.url + "/registrations/bulk", content=body, headers=registry.headers | NDJSON
        )
        duration = time.perf_counter() - started
        importing = False
        await reads
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["created"] + result["invalid"] == 10_000 and result["created"] > 9_900
    assert len(latencies) >= 5, (latencies, duration)
    # When the import held the event loop, the reads during its validation waited for all of it
    # (more than half the import); now each waits for a slice at most.
    assert max(latencies) < duration / 4, (sorted(latencies)[-5:], duration)
    assert statistics.median(latencies) < duration / 10, (statistics.median(latencies), duration)
