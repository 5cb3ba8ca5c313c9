"""One upstream service as the gateway sees it: its own connection pool, a bounded queue, a circuit breaker.

Built once at start-up per service (ADR 0022); a proxied call allocates nothing here. The pool of
one service cannot be taken by calls to another; a call that cannot get a connection within the
queue timeout is refused (503) instead of waiting for the read timeout of calls ahead of it; and a
service that keeps failing is not called at all for a cool-down, then one probe call decides.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

import aiohttp

# What CircuitBreaker.admit() returns when the call may go ahead; PROBE: it goes as the half-open probe.
GO = 0.0
PROBE = -1.0


class CircuitBreaker:
    """Consecutive-failure breaker: closed → open (after `threshold` failures) → half-open (one probe) → closed.

    A failure is a call that got no HTTP answer from the service (connect error or timeout, read
    timeout, broken response) or no free connection within the queue timeout. Any HTTP answer,
    whatever its status, is a success: the service is there and answering.
    """

    __slots__ = ("_clock", "cooldown", "failures", "opened_at", "probing", "threshold")

    def __init__(self, threshold: int, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.failures = 0
        self.opened_at: float | None = None  # None: closed
        self.probing = False
        self._clock = clock

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.probing or self._clock() >= self.opened_at + self.cooldown else "open"

    def admit(self) -> float:
        """GO or PROBE to let the call through; otherwise the seconds until a probe may go."""
        if self.opened_at is None:
            return GO
        remaining = self.opened_at + self.cooldown - self._clock()
        if remaining > 0:
            return remaining
        if self.probing:  # another call is the probe; its outcome decides
            return 1.0
        self.probing = True
        return PROBE

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.probing = False

    def failure(self) -> None:
        self.failures += 1
        if self.probing or self.failures >= self.threshold:
            self.opened_at = self._clock()
            self.probing = False

    def abandon_probe(self) -> None:
        """The probe ended without an outcome (the caller went away): let the next call probe."""
        self.probing = False


class Upstream:
    """A service's base URL, its own aiohttp session and pool, the slots of that pool and its breaker."""

    __slots__ = ("base_url", "breaker", "name", "queue_timeout", "session", "slots")

    def __init__(
        self,
        name: str,
        base_url: str,
        pool_size: int,
        queue_timeout: float,
        breaker_failures: int,
        breaker_cooldown: float,
    ) -> None:
        self.name = name
        self.base_url = base_url
        connector = aiohttp.TCPConnector(limit=pool_size, limit_per_host=0, keepalive_timeout=30)
        self.session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
            # One session serves every caller: a cookie jar would store a cookie an upstream set for one
            # caller and send it with everybody's later calls. Callers' own Cookie headers pass as sent.
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        # As many slots as the connector has connections: a call waits here, bounded, never in aiohttp.
        self.slots = asyncio.Semaphore(pool_size)
        self.queue_timeout = queue_timeout
        self.breaker = CircuitBreaker(breaker_failures, breaker_cooldown)

    async def acquire(self) -> bool:
        """Take a connection slot; False when none came free within the queue timeout."""
        if not self.slots.locked():
            await self.slots.acquire()  # free: returns at once
            return True
        try:
            async with asyncio.timeout(self.queue_timeout):
                await self.slots.acquire()
        except TimeoutError:
            return False
        return True

    def release(self) -> None:
        self.slots.release()

    async def close(self) -> None:
        await self.session.close()


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
