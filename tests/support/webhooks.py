"""A webhook receiver for tests: records what arrives, can be told to fail, deduplicates by id."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.support.servers import serve


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    @property
    def event(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


@dataclass
class Receiver:
    """Answers ``status`` (200 by default) and keeps every request; ``unique`` is what a
    deduplicating consumer would process: the first delivery of each webhook-id."""

    status: int = 200
    requests: list[Received] = field(default_factory=list)
    unique: dict[str, Received] = field(default_factory=dict)
    url: str = ""

    def app(self) -> Any:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                while True:
                    message = await receive()
                    if message["type"] == "lifespan.startup":
                        await send({"type": "lifespan.startup.complete"})
                    elif message["type"] == "lifespan.shutdown":
                        await send({"type": "lifespan.shutdown.complete"})
                        return
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            headers = {k.decode(): v.decode() for k, v in scope["headers"]}
            received = Received(headers, body)
            self.requests.append(received)
            status = self.status
            if status < 300:
                self.unique.setdefault(headers.get("webhook-id", ""), received)
            await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})

        return app

    def for_event(self, event_id: str) -> list[Received]:
        return [r for r in self.requests if r.headers.get("webhook-id") == event_id]

    def matching(self, **data: Any) -> list[Received]:
        """Deduplicated deliveries whose event data has these values."""
        return [r for r in self.unique.values() if all(r.event["data"].get(k) == v for k, v in data.items())]


@contextmanager
def receiver(port: int | None = None, status: int = 200) -> Iterator[Receiver]:
    r = Receiver(status=status)
    with serve(r.app(), port=port) as url:
        r.url = url
        yield r


async def eventually(check: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Await until ``check()`` returns a truthy value; returns it, or fails after the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
