"""Periodic background jobs: one loop for every service's scheduled work.

A job is an async ``step`` run every ``interval`` seconds for as long as an ``async with
periodic(...)`` block lasts (a service's lifespan):

- ``interval <= 0`` means never: the block runs and no task is started.
- A step that returns ``True`` asks to run again at once (a full page was read, more may wait);
  anything else waits for the interval. :meth:`PeriodicJob.wake` cuts the wait short.
- A step that raises is logged (warning, ``errorType`` = the exception's class name, never its
  message, which can quote data) and the job carries on at the next interval. Expected failures
  a step wants logged otherwise it catches itself.
- Each run is counted (``lmx_job_runs_total``, ``lmx_job_failures_total``,
  ``lmx_job_last_success_timestamp_seconds``, label ``job``) and is a trace of its own: its log
  lines carry a trace and span id, and with tracing on it is an exported root span (ADR 0029).
- Leaving the block (shutdown) stops the job at a safe point: a step under way may finish (at most
  ``STOP_GRACE_SECONDS``; each step is one transaction, so one cut off is rolled back whole), and no
  new step starts. The jobs start only once the database schema is at head (lmx_common/lifecycle.py).

Every replica of a service runs every job (docs/operations.md, "Several replicas"); how each job
does its work once across replicas is ADR 0031. A job that must not run in two places at once takes
:func:`job_lock` as the first statement of its transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common import metrics, telemetry

Step = Callable[[], Awaitable[object]]

# How long a job's step under way may take to finish at shutdown before it is cancelled.
STOP_GRACE_SECONDS = 5.0


async def stop_at_safe_point(task: asyncio.Task[None], grace: float) -> None:
    """Wait up to ``grace`` for a task told to stop to end by itself; then cancel it."""
    await asyncio.wait({task}, timeout=grace)
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task


class PeriodicJob:
    """The loop around one step; see the module docstring for its rules."""

    def __init__(self, name: str, interval: float, step: Step, logger: logging.Logger) -> None:
        self.name = name
        self.interval = interval
        self.step = step
        self.logger = logger
        self._wake = asyncio.Event()
        metrics.job_declared(name)
        self.stopping = False

    def wake(self) -> None:
        """Run the next step now rather than at the end of the interval."""
        self._wake.set()

    def stop(self) -> None:
        """Start no new step; the one under way finishes."""
        self.stopping = True
        self._wake.set()

    async def run_once(self) -> bool:
        """One step with the error policy; True when it asks to run again at once."""
        with telemetry.job_run(self.name) as span:
            try:
                again = await self.step() is True
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the job alive; the next round tries again
                self.logger.warning(f"{self.name} failed", extra={"job": self.name, "errorType": type(exc).__name__})
                telemetry.call_outcome(span, error=exc)
                metrics.job_ran(self.name, failed=True)
                return False
            metrics.job_ran(self.name, failed=False)
            return again

    async def run(self) -> None:
        while not self.stopping:
            if await self.run_once():
                continue
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()


@asynccontextmanager
async def periodic(name: str, interval: float, step: Step, logger: logging.Logger) -> AsyncIterator[PeriodicJob]:
    """Run ``step`` every ``interval`` seconds while the block lasts (never when ``interval <= 0``)."""
    job = PeriodicJob(name, interval, step, logger)
    if interval <= 0:
        yield job
        return
    task = asyncio.create_task(job.run(), name=name)
    try:
        yield job
    finally:
        job.stop()
        await stop_at_safe_point(task, STOP_GRACE_SECONDS)


def lock_key(name: str) -> int:
    """A job's PostgreSQL advisory-lock key: a signed 64-bit number derived from its name (stable
    across processes and releases, unlike Python's hash())."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


async def job_lock(session: AsyncSession, name: str, *, wait: bool = False) -> bool:
    """Try to take the job's lock for the rest of the session's transaction; False when another
    process holds it (then this round has nothing to do: the holder does the work). ``wait``: wait
    for the holder to finish instead (a command an operator runs), always True.

    PostgreSQL: ``pg_try_advisory_xact_lock``, released at commit or rollback, and by the server when
    the process dies (its connection goes), so a replica killed mid-run never leaves it held. SQLite
    (one process, one writer): always True.
    """
    if session.get_bind().dialect.name != "postgresql":
        return True
    if wait:
        await session.execute(select(func.pg_advisory_xact_lock(lock_key(name))))
        return True
    taken = (await session.execute(select(func.pg_try_advisory_xact_lock(lock_key(name))))).scalar_one()
    return bool(taken)
