"""The gateway against the attack trial of issue 14: pools, breaker, edge limits, 405, body limits, token bursts."""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from gateway.main import create_app as create_gateway
from gateway.routes import TABLE_FILE, RouteTable
from gateway.upstream import GO, PROBE, CircuitBreaker
from tests.api.test_conventions import assert_standard_headers
from tests.conftest import assert_problem
from tests.support.servers import echo_app, free_port, serve
from tests.support.stack import gateway_settings, lab_route_table, start_lab_gateway

SCOPES = ("registry:read", "registry:write", "housing:read")


async def token_for(stack: Any, http: httpx.AsyncClient, gateway: str, scopes: tuple[str, ...] = SCOPES) -> str:
    client_id, secret = await stack.register_client(scopes=scopes)
    return await stack.token(http, client_id, secret, gateway=gateway)


class StallServer:
    """A real HTTP upstream on its own thread and loop that reads each request and never answers.

    `recover()` makes it answer `200 {}` from then on and hangs up on the requests it was holding.
    `requests` counts the requests it has read (so a test sees whether the gateway called it).
    """

    def __init__(self) -> None:
        self.requests = 0
        self.answering = False
        self.loop = asyncio.new_event_loop()
        self.release = asyncio.Event()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")  # GETs only: no body
                self.requests += 1
                if not self.answering:
                    await self.release.wait()
                    return
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self._started.set()
        self.loop.run_forever()
        server.close()
        self.loop.run_until_complete(server.wait_closed())
        self.loop.close()

    def recover(self) -> None:
        def switch() -> None:
            self.answering = True
            self.release.set()

        self.loop.call_soon_threadsafe(switch)

    @contextmanager
    def running(self) -> Iterator[StallServer]:
        self._thread.start()
        self._started.wait(10)
        try:
            yield self
        finally:
            self.recover()
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)


async def wait_until(condition: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# 1. One pool per service, a bounded queue, a circuit breaker.


@pytest.mark.one_backend
async def test_a_stalled_service_neither_slows_another_nor_holds_its_queue(stack, http, backend):
    """Registry stalled with its pool full: housing still answers at once, queued registry calls get 503 fast."""
    with ExitStack() as exits:
        stalled = exits.enter_context(StallServer().running())
        housing = exits.enter_context(serve(echo_app()))
        url, _ = start_lab_gateway(
            exits,
            backend.urls,
            registry_url=stalled.url,
            housing_url=housing,
            upstream_pool_size=4,
            upstream_queue_timeout=0.3,
            read_timeout=10.0,
            breaker_failures=1000,  # this test is about the pools, not the breaker
        )
        token = await token_for(stack, http, url)
        auth = {"Authorization": f"Bearer {token}"}
        assert (await http.get(url + "/housing/v1/echo", headers=auth)).status_code == 200

        holding = [asyncio.create_task(http.get(url + "/registry/v1/echo", headers=auth)) for _ in range(4)]
        await wait_until(lambda: stalled.requests == 4)  # the registry's pool is full

        async def timed(path: str) -> tuple[httpx.Response, float]:
            started = time.monotonic()
            response = await http.get(url + path, headers=auth)
            return response, time.monotonic() - started

        queued = [timed("/registry/v1/echo") for _ in range(6)]
        results = await asyncio.gather(timed("/housing/v1/echo"), *queued)
        (fast, fast_elapsed), rest = results[0], results[1:]
        assert fast.status_code == 200 and fast.json()["path"] == "/v1/echo"
        assert fast_elapsed < 1.0, fast_elapsed  # today: the read timeout (10 s), queued behind the registry
        for response, elapsed in rest:
            body = assert_problem(response, 503, "gateway-upstream-unavailable")
            assert "registry" in body["detail"]
            assert int(response.headers["retry-after"]) >= 1
            assert_standard_headers(response)
            assert elapsed < 2.0, elapsed  # queue timeout 0.3 s, read timeout 10 s
        assert stalled.requests == 4  # the queued calls never reached it

        stalled.recover()  # hangs up on the four it held (aiohttp may retry them once: then 200)
        for response in await asyncio.gather(*holding):
            assert response.status_code in (200, 502)


@pytest.mark.one_backend
async def test_the_breaker_opens_answers_without_calling_and_closes_after_recovery(stack, http, backend):
    with ExitStack() as exits:
        stalled = exits.enter_context(StallServer().running())
        housing = exits.enter_context(serve(echo_app()))
        url, _ = start_lab_gateway(
            exits,
            backend.urls,
            registry_url=stalled.url,
            housing_url=housing,
            read_timeout=0.5,
            breaker_failures=3,
            breaker_cooldown_seconds=1.5,
        )
        token = await token_for(stack, http, url)
        auth = {"Authorization": f"Bearer {token}"}
        for _ in range(3):
            assert_problem(await http.get(url + "/registry/v1/echo", headers=auth), 504, "gateway-upstream-timeout")
        assert stalled.requests == 3

        started = time.monotonic()
        refused = await http.get(url + "/registry/v1/echo", headers=auth)
        assert time.monotonic() - started < 0.3  # no read timeout waited
        body = assert_problem(refused, 503, "gateway-upstream-unavailable")
        assert "registry" in body["detail"]
        assert 1 <= int(refused.headers["retry-after"]) <= 2
        assert stalled.requests == 3  # not called
        assert (await http.get(url + "/housing/v1/echo", headers=auth)).status_code == 200  # its own breaker

        stalled.recover()
        await asyncio.sleep(1.6)  # the cool-down
        probe = await http.get(url + "/registry/v1/echo", headers=auth)
        assert probe.status_code == 200, probe.text
        assert stalled.requests == 4
        after = [(await http.get(url + "/registry/v1/echo", headers=auth)).status_code for _ in range(3)]
        assert after == [200, 200, 200]  # closed again


def test_the_breaker_lets_one_probe_through_and_reopens_when_it_fails():
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, cooldown=10.0, clock=lambda: now[0])
    breaker.failure()
    assert breaker.admit() == GO
    breaker.success()  # consecutive failures only
    breaker.failure()
    breaker.failure()
    assert breaker.state == "open" and breaker.admit() == pytest.approx(10.0)
    now[0] = 10.0
    assert breaker.admit() == PROBE
    assert breaker.admit() > 0  # one probe at a time
    breaker.failure()
    assert breaker.state == "open" and breaker.admit() == pytest.approx(10.0)  # a failed probe: a new cool-down
    now[0] = 20.0
    assert breaker.admit() == PROBE
    breaker.abandon_probe()  # the caller went away: the next call probes
    assert breaker.admit() == PROBE
    breaker.success()
    assert breaker.state == "closed" and breaker.admit() == GO


# 2 and 6. Header size and count, URL length: refused at the edge, before any token work.


@pytest.fixture(scope="module")
def limited(backend):
    with ExitStack() as exits:
        url, _ = start_lab_gateway(exits, backend.urls, max_header_bytes=4096, max_header_count=30, max_url_bytes=2048)
        yield url


async def test_oversized_or_too_many_headers_are_431_before_any_token_work(stack, http, limited):
    token = await token_for(stack, http, limited)
    big = {"X-Padding": "p" * 5000}
    many = {f"X-Header-{i}": "v" for i in range(40)}
    client_id, secret = await stack.register_client()
    for headers in (big, many):
        for extra in ({}, {"Authorization": f"Bearer {token}"}):
            response = await http.get(limited + "/registry/v1/echo", headers=headers | extra)
            body = assert_problem(response, 431, "request-header-fields-too-large")  # never forwarded to the echo
            assert body["title"] == "Request header fields too large"
            assert_standard_headers(response)
        token_request = await http.post(
            limited + "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, secret or ""),
            headers=headers,
        )
        assert_problem(token_request, 431, "request-header-fields-too-large")
    within = await http.get(
        limited + "/registry/v1/echo", headers={"Authorization": f"Bearer {token}", "X-Padding": "p" * 2000}
    )
    assert within.status_code == 200 and within.json()["headers"]["x-padding"] == "p" * 2000
    catalogue = (await http.get(limited + "/problems")).json()
    assert {"request-header-fields-too-large", "uri-too-long"} <= set(catalogue)
    assert (await http.get(limited + "/problems/request-header-fields-too-large")).status_code == 200


async def test_an_overlong_url_is_414(stack, http, limited):
    token = await token_for(stack, http, limited)
    auth = {"Authorization": f"Bearer {token}"}
    for path in ("/registry/v1/echo?q=" + "a" * 3000, "/registry/v1/" + "b" * 3000, "/docs?" + "c" * 3000):
        response = await http.get(limited + path, headers=auth)
        assert_problem(response, 414, "uri-too-long")
        assert_standard_headers(response)
    assert (await http.get(limited + "/registry/v1/echo?q=" + "a" * 1500, headers=auth)).status_code == 200


@contextmanager
def serve_httptools(app: Any) -> Iterator[str]:
    """As tests.support.servers.serve, but with httptools: the parser `lmx up` and the images run."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on", http="httptools"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.one_backend
async def test_under_httptools_a_huge_header_and_url_still_get_problem_json(http, backend):
    """httptools has no head limit of its own: the application's limits are what refuses (default settings)."""
    with ExitStack() as exits:
        settings = gateway_settings(backend.urls, 0, route_table_file=lab_route_table(exits))
        url = exits.enter_context(serve_httptools(create_gateway(settings)))
        response = await http.get(url + "/registry/v1/echo", headers={"X-Padding": "p" * (2 * 1024 * 1024)})
        assert_problem(response, 431, "request-header-fields-too-large")
        long_url = await http.get(url + "/registry/v1/echo?q=" + "a" * 20_000)
        assert_problem(long_url, 414, "uri-too-long")


# 3. Body limits per route.


async def test_a_small_default_body_limit_and_a_large_one_for_the_bulk_import(stack, http, backend):
    with ExitStack() as exits:
        url, _ = start_lab_gateway(exits, backend.urls)  # default limits
        token = await token_for(stack, http, url)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        two_mib = b"x" * (2 * 1024 * 1024)
        refused = await http.post(url + "/registry/v1/registrations", content=two_mib, headers=headers)
        body = assert_problem(refused, 413, "payload-too-large")
        assert str(1024 * 1024) in body["detail"]
        bulk = await http.post(url + "/registry/v1/registrations/bulk", content=two_mib, headers=headers)
        assert bulk.status_code == 200 and bulk.json()["bodyLength"] == len(two_mib)  # the echo got it all
        too_big = await http.post(
            url + "/registry/v1/registrations/bulk", content=b"y" * (32 * 1024 * 1024 + 1), headers=headers
        )
        assert_problem(too_big, 413, "payload-too-large")


def test_the_route_table_carries_body_limits_per_method():
    table = RouteTable.load()
    assert table.match("registry", "/v1/registrations/bulk", "POST").max_body_bytes == 32 * 1024 * 1024  # type: ignore[union-attr]
    assert table.match("registry", "/v1/registrations", "POST").max_body_bytes is None  # type: ignore[union-attr]
    document = json.loads(TABLE_FILE.read_text())["services"]
    document["registry"].append(
        {
            "path": "/v1/big",
            "methods": {"POST": ["registry:write"], "PUT": ["registry:write"]},
            "maxBodyBytes": {"PUT": 7},
        }
    )
    table = RouteTable(document)
    assert table.match("registry", "/v1/big", "PUT").max_body_bytes == 7  # type: ignore[union-attr]
    assert table.match("registry", "/v1/big", "POST").max_body_bytes is None  # type: ignore[union-attr]
    assert table.allowed("registry", "/v1/big") == {"POST", "PUT"}
    assert table.allowed("registry", "/v1/nothing/here/at/all") == frozenset()


# 5. A known path with another method is 405 with Allow.


async def test_a_known_path_with_another_method_is_405_with_allow(stack, http, backend):
    with ExitStack() as exits:
        url, _ = start_lab_gateway(exits, backend.urls)
        token = await token_for(stack, http, url)
        auth = {"Authorization": f"Bearer {token}"}
        cases = [
            ("DELETE", "/registry/v1/municipalities", "GET, HEAD"),
            ("TRACE", "/registry/v1/municipalities", "GET, HEAD"),
            ("TRACE", "/registry/v1/registrations", "GET, HEAD, POST"),
            ("GET", "/registry/v1/registrations/bulk", None),  # also matches /v1/registrations/{id} (GET): forwarded
            ("PUT", "/registry/v1/registrations/bulk", "POST"),
        ]
        for method, path, allow in cases:
            for headers in (auth, {}):  # decided before the token is looked at
                response = await http.request(method, url + path, headers=headers)
                if allow is None:
                    assert response.status_code != 405
                    continue
                assert_problem(response, 405, "method-not-allowed")
                allowed = {m.strip() for m in response.headers["allow"].split(",")}
                assert allowed >= set(allow.split(", ")), (method, path, allowed)
                assert_standard_headers(response)
        assert_problem(await http.request("TRACE", url + "/registry/v2/nothing", headers=auth), 404, "not-found")


# 4. Secret verification is bounded: a token brute force does not slow proxied calls.


@pytest.mark.one_backend
async def test_a_burst_of_wrong_secrets_does_not_slow_proxied_calls(stack, http, backend):
    with ExitStack() as exits:
        url, _ = start_lab_gateway(exits, backend.urls)
        token = await token_for(stack, http, url)
        auth = {"Authorization": f"Bearer {token}"}
        victim, _secret = await stack.register_client()

        async def proxied_latencies(count: int) -> list[float]:
            latencies = []
            for _ in range(count):
                started = time.perf_counter()
                response = await http.get(url + "/registry/v1/echo", headers=auth)
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 200
            return latencies

        await proxied_latencies(5)  # warm the connections
        baseline = statistics.median(await proxied_latencies(30))

        stop = asyncio.Event()
        statuses: list[int] = []

        async def brute_force(client: httpx.AsyncClient) -> None:
            while not stop.is_set():
                response = await client.post(
                    url + "/oauth/token", data={"grant_type": "client_credentials"}, auth=(victim, "wrong")
                )
                statuses.append(response.status_code)

        async with httpx.AsyncClient(timeout=15, limits=httpx.Limits(max_connections=32)) as attacker:
            attackers = [asyncio.create_task(brute_force(attacker)) for _ in range(16)]
            await asyncio.sleep(0.3)  # let the burst build up
            under_attack = statistics.median(await proxied_latencies(30))
            stop.set()
            await asyncio.gather(*attackers)
        assert statuses and set(statuses) <= {401, 503}
        # Today (argon2 on the shared default executor) this is ~15 times the baseline.
        assert under_attack < max(4 * baseline, baseline + 0.025), (baseline, under_attack)


@pytest.mark.one_backend
async def test_token_requests_beyond_the_verification_queue_get_503_temporarily_unavailable(stack, http, backend):
    with ExitStack() as exits:
        url, _ = start_lab_gateway(exits, backend.urls, secret_verify_queue_timeout=0.01)
        client_id, secret = await stack.register_client()

        async def ask(password: str) -> httpx.Response:
            return await http.post(
                url + "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, password)
            )

        responses = await asyncio.gather(*(ask("wrong") for _ in range(12)))
        busy = [r for r in responses if r.status_code == 503]
        assert busy and all(r.status_code in (401, 503) for r in responses)
        assert busy[0].json()["error"] == "temporarily_unavailable"
        assert busy[0].headers["retry-after"] == "1" and busy[0].headers["cache-control"] == "no-store"
        assert (await ask(secret or "")).status_code == 200  # alone, it goes through
