"""lmx_common.lifecycle.Lifecycle.signals: the first SIGTERM drains, then reaches uvicorn's handler."""

from __future__ import annotations

import asyncio
import os
import signal
from types import FrameType, SimpleNamespace

from lmx_common.lifecycle import Lifecycle


class FakeServer:
    """Stands in for uvicorn.Server: its handle_exit is the process's SIGTERM handler."""

    def __init__(self, timeout: float | None) -> None:
        self.config = SimpleNamespace(timeout_graceful_shutdown=timeout)
        self.exits: list[tuple[int, float]] = []

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.exits.append((sig, asyncio.get_running_loop().time()))


async def test_sigterm_drains_at_once_and_reaches_uvicorn_after_the_delay():
    server = FakeServer(timeout=None)
    previous = signal.signal(signal.SIGTERM, server.handle_exit)
    lifecycle = Lifecycle()
    try:
        with lifecycle.signals(delay=0.3, timeout=7.0):
            assert server.config.timeout_graceful_shutdown == 7.0  # uvicorn had no bound: ours applies
            sent = asyncio.get_running_loop().time()
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(0.05)
            assert lifecycle.draining and server.exits == []  # readiness 503 now; uvicorn not yet told
            await asyncio.sleep(0.5)
            assert [sig for sig, _ in server.exits] == [signal.SIGTERM]
            assert server.exits[0][1] - sent >= 0.29
        assert signal.getsignal(signal.SIGTERM) == server.handle_exit  # given back when the lifespan ends
    finally:
        signal.signal(signal.SIGTERM, previous)


async def test_a_given_graceful_timeout_is_kept_and_a_second_signal_goes_through_at_once():
    server = FakeServer(timeout=5.0)
    previous = signal.signal(signal.SIGTERM, server.handle_exit)
    lifecycle = Lifecycle()
    try:
        with lifecycle.signals(delay=10.0, timeout=30.0):
            assert server.config.timeout_graceful_shutdown == 5.0  # --timeout-graceful-shutdown wins
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(0.05)
            assert lifecycle.draining and server.exits == []
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(0.05)
            assert len(server.exits) == 1
    finally:
        signal.signal(signal.SIGTERM, previous)
