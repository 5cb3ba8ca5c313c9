"""The gateway's hot path: the in-memory rate limiter, the token cache and the direct access-log line."""

from __future__ import annotations

import io
import json
import logging
import math
import sys
import time
import types
from typing import Any

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.ratelimit import LocalSlidingWindow, RateLimiter
from lmx_common import auth
from lmx_common.auth import AuthError, TokenVerifier
from lmx_common.logging import (
    JsonFormatter,
    configure_logging,
    trace_id_var,
    transaction_id_var,
    write_access_line,
)
from tests.support.tokens import access_claims, new_rsa_key

ISSUER = "http://gateway.test"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --- rate limiter ------------------------------------------------------------------------------------


def test_local_window_allows_the_limit_per_key_then_says_how_long_to_wait():
    clock = Clock(6000.0)  # the start of a window
    limiter = LocalSlidingWindow(5, 60, clock)
    assert [limiter.hit("a") for _ in range(5)] == [None] * 5
    wait = limiter.hit("a")
    assert wait is not None and 0 < wait <= 120
    assert limiter.hit("b") is None  # per key
    clock.now += wait - 0.5
    assert limiter.hit("a") is not None  # not yet
    clock.now += 0.5 + 1e-6
    assert limiter.hit("a") is None  # exactly when it said


def test_local_window_weighs_the_previous_window_as_limits_does():
    clock = Clock(6030.0)  # half-way through a window
    limiter = LocalSlidingWindow(10, 60, clock)
    assert all(limiter.hit("a") is None for _ in range(10))
    clock.now = 6060.0 + 15  # next window, a quarter in: weighted = 10 * 45/60 = 7.5 -> 7 counted
    assert [limiter.hit("a") is None for _ in range(4)] == [True, True, True, False]
    wait = limiter.hit("a")
    assert wait is not None
    clock.now += wait + 1e-6
    assert limiter.hit("a") is None


@settings(max_examples=200, deadline=None)
@given(
    amount=st.integers(1, 20),
    window=st.sampled_from([1.0, 10.0, 60.0, 3600.0]),
    gaps=st.lists(st.floats(0, 2, allow_nan=False), min_size=1, max_size=80),
)
def test_local_window_never_allows_more_than_the_sliding_count_and_its_wait_is_exact(amount, window, gaps):
    clock = Clock(1_000_000.0)
    limiter = LocalSlidingWindow(amount, window, clock)
    allowed: list[float] = []
    for gap in gaps:
        clock.now += gap * window / 4
        wait = limiter.hit("k")
        if wait is None:
            allowed.append(clock.now)
            # The weighted count of `limits`, recomputed from the allowed hits, never exceeds the limit.
            index = math.floor(clock.now / window)
            current = sum(1 for t in allowed if math.floor(t / window) == index)
            previous = sum(1 for t in allowed if math.floor(t / window) == index - 1)
            weighted = previous * (window - (clock.now - index * window)) / window + current
            assert math.floor(weighted - 1e-9) <= amount
        else:
            assert wait >= 0
            probe = LocalSlidingWindow(amount, window, Clock(clock.now + wait + 1e-6 * window))
            probe._counts = {k: list(v) for k, v in limiter._counts.items()}
            assert probe.hit("k") is None


async def test_rate_limiter_answers_retry_after_per_client_without_redis():
    limiter = RateLimiter("3/minute", "2/minute")
    assert limiter.storage is None  # counted in memory
    assert [await limiter.check("client-a") for _ in range(3)] == [None] * 3
    retry = await limiter.check("client-a")
    assert retry is not None and 1 <= retry <= 120 and retry == int(retry)
    assert await limiter.check("client-b") is None
    # the anonymous limit is a separate count
    assert [await limiter.check("client-a", anonymous=True) for _ in range(2)] == [None, None]
    assert await limiter.check("client-a", anonymous=True) is not None
    await limiter.ping()


def test_local_window_forgets_idle_keys():
    clock = Clock(0.0)
    limiter = LocalSlidingWindow(5, 10, clock)
    for n in range(100):
        limiter.hit(f"address-{n}")
    clock.now = 30.0
    limiter.hit("fresh")
    assert set(limiter._counts) == {"fresh"}


# --- token cache -------------------------------------------------------------------------------------


class Keys:
    """A key source whose published keys the test changes."""

    def __init__(self) -> None:
        self.private, _ = new_rsa_key()
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        self.kid = "k1"
        self.published: dict[str, jwt.PyJWK] = {self.kid: jwt.PyJWK(jwk, algorithm="RS256")}
        self.jwk = jwk

    async def key_for(self, kid: str) -> jwt.PyJWK | None:
        return self.published.get(kid)

    def reload(self) -> None:
        """What a key source does every cache_seconds: new key objects for the keys still published."""
        self.published = {kid: jwt.PyJWK(self.jwk, algorithm="RS256") for kid in self.published}

    def token(self, **overrides: Any) -> str:
        claims = access_claims(ISSUER, **overrides)
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": self.kid, "typ": "at+jwt"})


def counting(verifier: TokenVerifier) -> list[str]:
    calls: list[str] = []
    original = verifier._verify_uncached

    async def spy(token: str):
        calls.append(token)
        return await original(token)

    verifier._verify_uncached = spy  # type: ignore[method-assign]
    return calls


async def test_token_cache_is_hit_for_the_same_token_and_only_for_it():
    keys = Keys()
    verifier = TokenVerifier(keys, ISSUER, "urn:lmx:api")
    calls = counting(verifier)
    token = keys.token()
    first = await verifier.verify(token)
    assert await verifier.verify(token) is first
    assert len(calls) == 1
    await verifier.verify(keys.token())  # another token string: verified in full
    assert len(calls) == 2
    keys.reload()  # the key source re-read its keys: one full verification again, then cached
    await verifier.verify(token)
    await verifier.verify(token)
    assert len(calls) == 3


async def test_token_cache_honours_exp(monkeypatch):
    keys = Keys()
    verifier = TokenVerifier(keys, ISSUER, "urn:lmx:api", leeway=30)
    now = time.time()
    token = keys.token(exp=int(now) + 60)
    await verifier.verify(token)
    fake = types.SimpleNamespace(time=lambda: now + 60 + 31, monotonic=time.monotonic)
    monkeypatch.setattr(auth, "time", fake)
    with pytest.raises(AuthError, match="expired"):
        await verifier.verify(token)


async def test_token_cache_drops_a_token_as_soon_as_its_key_is_withdrawn():
    keys = Keys()
    verifier = TokenVerifier(keys, ISSUER, "urn:lmx:api", cache_seconds=3600)
    token = keys.token()
    await verifier.verify(token)
    keys.published = {}  # the key source re-read its keys and the key is gone
    with pytest.raises(AuthError, match="unknown key"):
        await verifier.verify(token)


# --- access log ----------------------------------------------------------------------------------------


def test_direct_access_line_is_the_line_stdlib_logging_writes(monkeypatch):
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    fields = {"method": "GET", "path": "/registry/v1/x", "status": 200, "durationMs": 1.5, "clientId": "c-1"}
    txn, trace = transaction_id_var.set("t-1"), trace_id_var.set("0af7651916cd43dd8448eb211c80319c")
    try:
        configure_logging("gateway", "INFO")
        write_access_line(fields)  # the direct path: only our JSON handler is set up
        collected = io.StringIO()
        extra = logging.StreamHandler(collected)
        extra.setFormatter(JsonFormatter("gateway"))
        logging.getLogger("lmx.access").addHandler(extra)  # another handler: through stdlib logging
        try:
            write_access_line(fields)
        finally:
            logging.getLogger("lmx.access").removeHandler(extra)
        configure_logging("gateway", "WARNING")
        write_access_line(fields)  # below the level: nothing
    finally:
        transaction_id_var.reset(txn)
        trace_id_var.reset(trace)
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    direct, through_logging = (json.loads(line) for line in stream.getvalue().splitlines())
    assert json.loads(collected.getvalue()) == through_logging
    direct.pop("time"), through_logging.pop("time")
    assert list(direct.items()) == list(through_logging.items())
    assert direct["transactionId"] == "t-1" and direct["clientId"] == "c-1" and direct["logger"] == "lmx.access"
