"""Per-client rate limits: a sliding window counter in this process's memory, or in Redis shared by all replicas.

Both count the same way (the `limits` library's sliding window counter, ADR 0006): the previous fixed
window's count, weighted by how much of it still overlaps the sliding window, plus the current window's
count; a hit is allowed while ``floor(weighted) + 1 <= limit``. With Redis the `limits` library does
the counting (atomically, shared by the replicas). In memory the gateway counts itself
(`LocalSlidingWindow`): a dict lookup and a little arithmetic instead of `limits`' async storage with
its locks and expiry timers, which cost more per proxied call than the rest of the limit check.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from lmx_common.metrics import RATE_LIMITED


class LocalSlidingWindow:
    """One limit (``amount`` hits per ``window`` seconds) per key, counted in memory.

    Windows are aligned to multiples of ``window`` on the clock, as in `limits`. Keys idle for two
    windows are dropped, at most once per window, so addresses seen once do not accumulate.
    """

    def __init__(self, amount: int, window: float, clock: Callable[[], float] = time.time) -> None:
        if amount < 1 or window <= 0:
            raise ValueError("a rate limit needs at least one hit per positive window")
        self.amount = amount
        self.window = window
        self.clock = clock
        # key -> [window index, count in the window before it, count in it]
        self._counts: dict[str, list[int]] = {}
        self._next_sweep = 0.0

    def hit(self, key: str) -> float | None:
        """Count one hit: None when allowed; otherwise the seconds until a hit would be allowed (not counted)."""
        now = self.clock()
        window = self.window
        index = int(now // window)
        into = now - index * window
        entry = self._counts.get(key)
        if entry is None or entry[0] < index - 1:
            previous = current = 0
        elif entry[0] == index - 1:
            previous, current = entry[2], 0
        else:
            previous, current = entry[1], entry[2]
        if math.floor(previous * (window - into) / window + current) < self.amount:
            if entry is None:
                self._counts[key] = [index, previous, current + 1]
            else:
                entry[0], entry[1], entry[2] = index, previous, current + 1
            if now >= self._next_sweep:
                self._sweep(index)
                self._next_sweep = (index + 1) * window
            return None
        return self._wait(previous, current, into)

    def _wait(self, previous: int, current: int, into: float) -> float:
        """Seconds from now until ``floor(weighted) + 1 <= amount`` holds again."""
        window, amount = self.window, self.amount
        if current < amount:
            # Within this window, once enough of the previous window's weight has slid out:
            # previous * (window - t) / window + current < amount.
            needed = window * (1 - (amount - current) / previous) if previous else into
            return max(0.0, needed - into)
        # Not in this window: in the next one this window's count is the weighted "previous".
        needed = window * (1 - amount / current)
        return (window - into) + max(0.0, needed)

    def _sweep(self, index: int) -> None:
        stale = [key for key, entry in self._counts.items() if entry[0] < index - 1]
        for key in stale:
            del self._counts[key]


class RateLimiter:
    """The gateway's two limits: per client id (authenticated calls) and per address (anonymous calls)."""

    def __init__(self, per_client: str, anonymous: str, redis_url: str | None = None) -> None:
        self.per_client: RateLimitItem = parse(per_client)
        self.anonymous: RateLimitItem = parse(anonymous)
        self.storage: Storage | None = None
        self.limiter: SlidingWindowCounterRateLimiter | None = None
        self._local: dict[bool, LocalSlidingWindow] = {}
        if redis_url:
            uri = redis_url if redis_url.startswith("async+") else "async+" + redis_url
            created = storage_from_string(uri)
            if not isinstance(created, Storage):
                raise ValueError(f"not an async rate-limit storage: {redis_url}")
            self.storage = created
            self.limiter = SlidingWindowCounterRateLimiter(created)
        else:
            self._local = {
                False: LocalSlidingWindow(self.per_client.amount, self.per_client.get_expiry()),
                True: LocalSlidingWindow(self.anonymous.amount, self.anonymous.get_expiry()),
            }

    async def check(self, key: str, anonymous: bool = False) -> float | None:
        """None when the call is allowed; otherwise the seconds to wait before retrying (at least 1).

        A refusal is counted in ``lmx_gateway_rate_limited_total{kind="client"|"anonymous"}``."""
        if self.limiter is None:
            wait = self._local[anonymous].hit(key)
            if wait is None:
                return None
        else:
            item = self.anonymous if anonymous else self.per_client
            namespace = "anon" if anonymous else "client"
            if await self.limiter.hit(item, namespace, key):
                return None
            stats = await self.limiter.get_window_stats(item, namespace, key)
            wait = stats.reset_time - time.time()
        RATE_LIMITED.labels("anonymous" if anonymous else "client").inc()
        return max(1.0, math.ceil(wait))

    async def ping(self) -> None:
        if self.storage is not None and not await self.storage.check():
            raise ConnectionError("rate-limit storage unreachable")
