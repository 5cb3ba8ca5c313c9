"""Per-client rate limits with the `limits` library: in memory, or in Redis shared by all replicas."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string


class RateLimiter:
    def __init__(self, per_client: str, anonymous: str, redis_url: str | None = None) -> None:
        storage: Storage
        if redis_url:
            uri = redis_url if redis_url.startswith("async+") else "async+" + redis_url
            created = storage_from_string(uri)
            if not isinstance(created, Storage):
                raise ValueError(f"not an async rate-limit storage: {redis_url}")
            storage = created
        else:
            storage = MemoryStorage()
        self.storage = storage
        self.limiter = SlidingWindowCounterRateLimiter(storage)
        self.per_client: RateLimitItem = parse(per_client)
        self.anonymous: RateLimitItem = parse(anonymous)

    async def check(self, key: str, anonymous: bool = False) -> float | None:
        """None when the call is allowed; otherwise the seconds to wait before retrying."""
        item = self.anonymous if anonymous else self.per_client
        if await self.limiter.hit(item, "anon" if anonymous else "client", key):
            return None
        stats = await self.limiter.get_window_stats(item, "anon" if anonymous else "client", key)
        return max(1.0, math.ceil(stats.reset_time - time.time()))

    async def ping(self) -> None:
        if not await self.storage.check():
            raise ConnectionError("rate-limit storage unreachable")
