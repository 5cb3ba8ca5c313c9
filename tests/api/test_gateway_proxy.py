"""The gateway as a proxy: what it forwards, what it strips, and how it answers for a failing service."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from contextlib import ExitStack

import httpx
import pytest

from tests.api.test_conventions import assert_standard_headers
from tests.conftest import IN_CI, assert_problem
from tests.support.logs import Collect
from tests.support.servers import echo_app, serve
from tests.support.stack import start_lab_gateway


@pytest.fixture(scope="module")
def lab(backend):
    """Registry is an echo server, housing answers garbage, certification is down; small limits."""
    with ExitStack() as exits:
        url, _echo = start_lab_gateway(exits, backend.urls, max_body_bytes=4096, rate_limit="5/minute")
        yield url


async def token_for(
    stack, http, lab_url, scopes=("registry:read", "registry:write", "housing:read", "certification:read")
):
    client_id, secret = await stack.register_client(scopes=scopes)
    return await stack.token(http, client_id, secret, gateway=lab_url)


async def test_forwards_method_path_query_and_body(stack, http, lab):
    token = await token_for(stack, http, lab)
    response = await http.post(
        lab + "/registry/v1/registrations?x=1&y=two",
        content=b'{"a": 1}',
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    seen = response.json()
    assert seen["method"] == "POST"
    assert seen["path"] == "/v1/registrations"
    assert seen["query"] == "x=1&y=two"
    assert seen["bodyLength"] == 8
    assert seen["headers"]["authorization"] == f"Bearer {token}"  # services verify the token themselves
    assert seen["headers"]["x-forwarded-prefix"] == "/registry"
    assert response.headers["x-upstream"] == "echo"


async def test_strips_hop_by_hop_and_identity_headers(stack, http, lab):
    token = await token_for(stack, http, lab)
    sent = {
        "Authorization": f"Bearer {token}",
        "X-Client-Id": "someone-else",
        "X-Consumer-Username": "admin",
        "X-Authenticated-Userid": "admin",
        "X-Forwarded-For": "6.6.6.6",
        "X-Forwarded-Prefix": "/evil",
        "Forwarded": "for=6.6.6.6",
        "X-Organisation": "00000099000000000001",
        "X-Org-Type": "national",
        "X-Remote-User": "root",
        "X-Scopes": "audit:read",
        "Connection": "keep-alive, X-Secret-Hop",
        "X-Secret-Hop": "should-not-pass",
        "TE": "trailers",
        "X-Custom-Harmless": "kept",
    }
    seen = (await http.get(lab + "/registry/v1/echo", headers=sent)).json()["headers"]
    for name in (
        "x-client-id",
        "x-consumer-username",
        "x-authenticated-userid",
        "forwarded",
        "x-organisation",
        "x-org-type",
        "x-remote-user",
        "x-scopes",
        "x-secret-hop",
        "te",
    ):
        assert name not in seen, name
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-prefix"] == "/registry"
    assert seen["x-custom-harmless"] == "kept"


async def test_propagates_trace_context_and_transaction_id(stack, http, lab):
    token = await token_for(stack, http, lab)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    incoming = f"00-{trace_id}-00f067aa0ba902b7-01"
    response = await http.get(
        lab + "/registry/v1/echo",
        headers={"Authorization": f"Bearer {token}", "traceparent": incoming, "X-Transaction-Id": "txn-from-caller-1"},
    )
    seen = response.json()["headers"]
    assert seen["traceparent"].startswith(f"00-{trace_id}-")
    assert seen["traceparent"] != incoming  # the gateway's own span in the caller's trace
    assert seen["x-transaction-id"] == "txn-from-caller-1"
    assert response.headers["x-transaction-id"] == "txn-from-caller-1"

    minted = await http.get(
        lab + "/registry/v1/echo", headers={"Authorization": f"Bearer {token}", "traceparent": "garbage"}
    )
    upstream_trace = minted.json()["headers"]["traceparent"]
    assert upstream_trace.split("-")[1] != "garbage" and len(upstream_trace.split("-")[1]) == 32
    assert minted.json()["headers"]["x-transaction-id"] == minted.headers["x-transaction-id"]


async def test_passes_on_the_callers_tracestate_with_its_trace(stack, http, lab):
    token = await token_for(stack, http, lab)
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    headers = {
        "Authorization": f"Bearer {token}",
        "traceparent": f"00-{trace_id}-b7ad6b7169203331-01",
        "tracestate": "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
    }
    seen = (await http.get(lab + "/registry/v1/echo", headers=headers)).json()["headers"]
    assert seen["traceparent"].split("-")[1] == trace_id
    assert seen["tracestate"] == "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"

    # Without a valid traceparent the trace is new, and a tracestate belongs to no trace: dropped.
    headers["traceparent"] = "00-" + "0" * 32 + "-b7ad6b7169203331-01"
    seen = (await http.get(lab + "/registry/v1/echo", headers=headers)).json()["headers"]
    assert seen["traceparent"].split("-")[1] != "0" * 32
    assert "tracestate" not in seen


async def test_upstream_down_is_503_within_the_connect_timeout(stack, http, lab):
    token = await token_for(stack, http, lab)
    started = time.monotonic()
    response = await http.get(lab + "/certification/v1/schemes", headers={"Authorization": f"Bearer {token}"})
    elapsed = time.monotonic() - started
    body = assert_problem(response, 503, "gateway-upstream-unavailable")
    assert "certification" in body["detail"]
    assert elapsed < 1.0 + 0.5  # connect timeout of the lab gateway is 1 s


async def test_slow_upstream_is_504(stack, http, lab):
    token = await token_for(stack, http, lab)
    started = time.monotonic()
    response = await http.get(lab + "/registry/v1/slow", headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 504, "gateway-upstream-timeout")
    assert time.monotonic() - started < 2.5  # read timeout 1 s; the upstream would take 3 s


async def test_upstream_answering_garbage_is_502(stack, http, lab):
    token = await token_for(stack, http, lab)
    response = await http.get(lab + "/housing/v1/anything", headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 502, "gateway-bad-upstream-response")


async def test_every_proxied_answer_carries_the_standard_headers_and_an_access_line(stack, http, lab):
    """Proxied calls skip FastAPI (GatewayApp): each outcome still gets the headers and its log line."""
    token = await token_for(stack, http, lab, scopes=("registry:read",))
    auth = {"Authorization": f"Bearer {token}"}
    cases = [
        ("GET", "/registry/v1/echo", auth, 200),
        ("GET", "/registry/v1/echo", {}, 401),
        ("POST", "/registry/v1/registrations", auth, 403),
        ("GET", "/registry/v2/nothing", auth, 404),
        ("GET", "/registry/v1/%2e%2e/admin", auth, 400),
        ("GET", "/certification/v1/schemes", auth, 503),
        ("GET", "/housing/v1/regions", auth, 502),
    ]
    collect = Collect()
    logging.getLogger("lmx.access").addHandler(collect)
    try:
        for method, path, headers, status in cases:
            response = await http.request(method, lab + path, headers=headers)
            assert response.status_code == status, (path, response.text)
            assert_standard_headers(response)
        other = await token_for(stack, http, lab, scopes=("registry:read",))
        for _ in range(5):
            await http.get(lab + "/registry/v1/echo", headers={"Authorization": f"Bearer {other}"})
        limited = await http.get(lab + "/registry/v1/echo", headers={"Authorization": f"Bearer {other}"})
        assert limited.status_code == 429 and limited.headers["retry-after"]
        assert_standard_headers(limited)
        for _ in range(100):  # the line is written just after the response is sent
            if any('"status":429' in line for line in collect.lines):
                break
            await asyncio.sleep(0.01)
    finally:
        logging.getLogger("lmx.access").removeHandler(collect)
    lines = [json.loads(line) for line in collect.lines]
    forwarded = [line for line in lines if line.get("path") == "/registry/v1/echo" and line["status"] == 200]
    assert forwarded and forwarded[0]["clientId"] and forwarded[0]["transactionId"] and forwarded[0]["traceId"]
    assert {line["status"] for line in lines} >= {200, 400, 401, 403, 404, 429, 502, 503}


async def test_cookies_an_upstream_sets_are_never_sent_for_another_call(stack, http, backend):
    """The gateway's one upstream session must not keep a cookie jar: it would replay one caller's cookie for all."""
    with ExitStack() as exits:
        echo = exits.enter_context(serve(echo_app()))
        # A host name, not an address: aiohttp's default jar refuses cookies only for IP addresses.
        url, _ = start_lab_gateway(exits, backend.urls, registry_url=echo.replace("127.0.0.1", "localhost"))
        first = await token_for(stack, http, url)
        answer = await http.get(url + "/registry/v1/set-cookie", headers={"Authorization": f"Bearer {first}"})
        assert answer.status_code == 200 and "upstream-session" in answer.headers["set-cookie"]  # passed on
        second = await token_for(stack, http, url)
        async with httpx.AsyncClient() as other_caller:  # a caller that never saw the cookie
            seen = await other_caller.get(url + "/registry/v1/echo", headers={"Authorization": f"Bearer {second}"})
        assert seen.status_code == 200
        assert "cookie" not in seen.json()["headers"]


async def test_body_over_the_limit_is_413(stack, http, lab):
    token = await token_for(stack, http, lab)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    declared = await http.post(lab + "/registry/v1/registrations", content=b"x" * 5000, headers=headers)
    assert_problem(declared, 413, "payload-too-large")

    async def chunks():
        for _ in range(10):
            yield b"y" * 1000

    streamed = await http.post(lab + "/registry/v1/registrations", content=chunks(), headers=headers)
    assert_problem(streamed, 413, "payload-too-large")
    within = await http.post(lab + "/registry/v1/registrations", content=b"z" * 4000, headers=headers)
    assert within.status_code == 200 and within.json()["bodyLength"] == 4000


async def test_client_over_its_rate_gets_429_with_retry_after(stack, http, lab):
    token = await token_for(stack, http, lab)
    headers = {"Authorization": f"Bearer {token}"}
    statuses = [(await http.get(lab + "/registry/v1/echo", headers=headers)).status_code for _ in range(5)]
    assert statuses == [200] * 5
    limited = await http.get(lab + "/registry/v1/echo", headers=headers)
    assert_problem(limited, 429, "too-many-requests")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    other = await token_for(stack, http, lab)  # the limit is per client
    assert (await http.get(lab + "/registry/v1/echo", headers={"Authorization": f"Bearer {other}"})).status_code == 200


def redis_url() -> str:
    url = os.environ.get("LMX_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if IN_CI:
            pytest.fail(f"Redis is required under CI=true: {exc}")
        pytest.skip(f"Redis not reachable: {exc}")
    return url


async def test_replicas_share_one_rate_limit_through_redis(stack, http, backend):
    url = redis_url()
    with ExitStack() as exits:
        shared = {"rate_limit": "4/minute", "redis_url": url, "issuer": "http://replicated-gateway.test"}
        first, _ = start_lab_gateway(exits, backend.urls, **shared)
        second, _ = start_lab_gateway(exits, backend.urls, **shared)
        token = await token_for(stack, http, first)
        headers = {"Authorization": f"Bearer {token}"}
        statuses = []
        for gateway in (first, second, first, second, first, second):
            statuses.append((await http.get(gateway + "/registry/v1/echo", headers=headers)).status_code)
        assert statuses == [200, 200, 200, 200, 429, 429]
        ready = await http.get(first + "/health/ready")
        assert ready.json()["checks"]["redis"] == "up"


async def test_readiness_names_the_service_that_is_down(http, lab):
    response = await http.get(lab + "/health/ready")
    body = assert_problem(response, 503, "service-unavailable")
    assert body["checks"] == {
        "database": "up",
        "schema": "up",
        "keys": "up",
        "registry": "up",
        "certification": "down",
        "housing": "down",
    }
    live = await http.get(lab + "/health/live")
    assert live.status_code == 200 and live.json()["status"] == "up"


async def test_openapi_through_the_gateway_needs_no_token(stack, http):
    for service in ("registry", "certification", "housing"):
        response = await http.get(f"{stack.gateway}/{service}/v1/openapi.json")
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.json()["servers"][0]["url"] == f"/{service}/v1"
