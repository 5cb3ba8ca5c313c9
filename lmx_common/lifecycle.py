"""A component's life between its process starting and ending (ADR 0030).

Starting: the process answers ``/health/live`` at once, but is ready (``/health/ready`` 200) only
when its database schema is at the head revision of its Alembic chain and what it needs from that
database exists (the gateway's signing key). Until then every other request is answered 503
problem+json with Retry-After, and the background jobs have not started: a component started
before its migrations waits, polling quietly with backoff, instead of exiting or failing in a loop.

Stopping: the first SIGTERM (or SIGINT) makes the component *draining*: ``/health/ready`` answers
503 at once while requests are still served; after ``shutdown_delay_seconds`` the signal goes on to
uvicorn, which stops accepting connections and lets the requests in flight finish (at most
``shutdown_timeout_seconds``), then the lifespan ends: background jobs stop at a safe point and the
pools close.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager, suppress
from types import FrameType

from alembic.script import ScriptDirectory
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lmx_common.db import Database
from lmx_common.migrations import alembic_config
from lmx_common.problems import problem_body, public_path

logger = logging.getLogger("lmx.lifecycle")

# Seconds between two looks at the schema while waiting for the migrations: doubling up to the cap.
FIRST_WAIT = 0.25
MAX_WAIT = 3.0
# What a caller is told to wait when the component is not ready yet (Retry-After).
RETRY_AFTER_SECONDS = 5


class NotReady(Exception):
    """A readiness condition does not hold (yet)."""


def head_revisions(name: str, url: str) -> frozenset[str]:
    """The head revision(s) of a database's Alembic chain, read from its scripts."""
    return frozenset(ScriptDirectory.from_config(alembic_config(name, url)).get_heads())


class SchemaGate:
    """Is the database at the head revision? Looked up until it is, then remembered: a schema does
    not go back while the process lives (a newer one, during a rolling upgrade, is for the next
    version's processes; the old ones keep serving)."""

    def __init__(self, name: str, database: Database) -> None:
        self.name = name
        self.database = database
        self.heads = head_revisions(name, database.url)
        self.at_head = False
        self._reached = asyncio.Event()

    async def check(self) -> None:
        """Raises unless the schema is at the head revision; one query until it is, then nothing."""
        if self.at_head:
            return
        async with self.database.engine.connect() as connection:
            found = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        if frozenset(found) != self.heads:
            raise NotReady(f"{self.name} schema at {sorted(found)}, not at {sorted(self.heads)}")
        self.at_head = True
        self._reached.set()

    async def wait(self) -> None:
        """Return once the schema is at head; look again with backoff, logging once, not per try."""
        delay = FIRST_WAIT
        logged = False
        while True:
            try:
                await self.check()
                if logged:
                    logger.info("database schema at head", extra={"database": self.name})
                return
            except Exception as exc:  # no table yet, an older revision, no database yet: all the same here
                if not logged:
                    logger.info(
                        "waiting for the database schema (run the migrations)",
                        extra={"database": self.name, "errorType": type(exc).__name__},
                    )
                    logged = True
            with suppress(TimeoutError):  # a readiness probe that sees the head cuts the wait short
                await asyncio.wait_for(self._reached.wait(), delay)
            delay = min(MAX_WAIT, delay * 2)


class Lifecycle:
    """Starting, started, draining: what readiness, the start-up guard and the signal hook share."""

    def __init__(self) -> None:
        self.gate: SchemaGate | None = None
        self.started = False
        self.draining = False

    async def check(self) -> None:
        """The readiness check "schema": at head and everything started on it."""
        if self.gate is not None:
            await self.gate.check()
        if not self.started:
            raise NotReady("starting")

    @asynccontextmanager
    async def running(
        self, gate: SchemaGate, when_ready: Callable[[], AbstractAsyncContextManager[None]]
    ) -> AsyncIterator[None]:
        """Enter ``when_ready()`` (background jobs, keys) once ``gate`` holds and stay in it while the
        block lasts: at once when the schema is at head now (the usual start, nothing changes), else
        from a task that waits for the migrations, so the process serves its health probes meanwhile."""
        self.gate = gate
        with suppress(Exception):
            await gate.check()
        if gate.at_head:
            async with when_ready():
                self.started = True
                yield
            return
        stop = asyncio.Event()

        async def wait_then_run() -> None:
            await gate.wait()
            async with when_ready():
                self.started = True
                logger.info("ready", extra={"database": gate.name})
                await stop.wait()

        task = asyncio.create_task(wait_then_run(), name=f"{gate.name}-start")
        try:
            yield
        finally:
            stop.set()
            if not self.started:
                task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    @contextmanager
    def signals(self, delay: float, timeout: float | None) -> Iterator[None]:
        """Put the draining step in front of uvicorn's SIGTERM/SIGINT handling while the block lasts.

        uvicorn installs its handlers (``Server.handle_exit``) before the lifespan starts; they are
        wrapped here, whichever way uvicorn was started (CLI, ``lmx up``, a container). When uvicorn
        was given no ``--timeout-graceful-shutdown``, ``timeout`` bounds its wait for requests in
        flight. Nothing happens outside the main thread (servers in test threads).
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        config = getattr(getattr(previous[signal.SIGTERM], "__self__", None), "config", None)
        if timeout is not None and config is not None and getattr(config, "timeout_graceful_shutdown", 0) is None:
            config.timeout_graceful_shutdown = timeout
        loop = asyncio.get_running_loop()

        def on_signal(sig: int, frame: FrameType | None) -> None:
            handler = previous[signal.Signals(sig)]
            first = not self.draining
            self.draining = True
            if first:
                logger.info("draining", extra={"signal": signal.Signals(sig).name, "delaySeconds": delay})
            if not callable(handler):
                return
            if first and sig == signal.SIGTERM and delay > 0:
                # From a signal handler: hand over to the loop thread-safely, then wait there.
                loop.call_soon_threadsafe(loop.call_later, delay, handler, sig, frame)
            else:
                handler(sig, frame)

        for sig in previous:
            signal.signal(sig, on_signal)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                if signal.getsignal(sig) is on_signal:
                    signal.signal(sig, handler)


HEALTH_PREFIX = "/health/"


class LifecycleGuard:
    """Until the component has started (schema at head, keys there), every request but the health
    probes gets 503 problem+json with Retry-After, instead of an error from a missing table. While
    draining, every answer carries ``Connection: close``: a client opens its next request on a new
    connection (refused once the listener is closed) instead of sending it on a kept-alive one that
    uvicorn closes unread when it stops."""

    def __init__(self, app: ASGIApp, lifecycle: Lifecycle) -> None:
        self.app = app
        self.lifecycle = lifecycle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lifecycle = self.lifecycle
        if scope["type"] != "http" or (lifecycle.started and not lifecycle.draining) or lifecycle.gate is None:
            await self.app(scope, receive, send)
            return
        if lifecycle.draining:

            async def closing(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", ()), (b"connection", b"close")]
                await send(message)

            await self.app(scope, receive, closing)
            return
        if scope["path"].startswith(HEALTH_PREFIX):
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            problem_body(503, "Starting: not ready to serve yet; try again later.", public_path(scope)),
            separators=(",", ":"),
        ).encode()
        headers: list[tuple[bytes, bytes]] = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})
