"""lmx_common.jobs.periodic: runs its step, logs a failure and keeps going, reruns at once on True, stops."""

from __future__ import annotations

import asyncio
import logging

import pytest

from lmx_common.jobs import periodic

logger = logging.getLogger("lmx.test.jobs")


async def wait_until(condition, seconds: float = 2.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.005)


async def test_it_runs_every_interval_and_stops_when_the_block_ends():
    runs: list[int] = []

    async def step() -> None:
        runs.append(1)

    async with periodic("test-job", 0.01, step, logger):
        await wait_until(lambda: len(runs) >= 3)
    stopped_at = len(runs)
    await asyncio.sleep(0.05)
    assert len(runs) == stopped_at
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "test-job"]


async def test_a_failing_step_is_logged_by_type_and_the_job_keeps_going(caplog):
    runs: list[int] = []

    async def step() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("secret detail")

    with caplog.at_level(logging.WARNING, logger="lmx.test.jobs"):
        async with periodic("flaky-job", 0.01, step, logger):
            await wait_until(lambda: len(runs) >= 3)
    failures = [r for r in caplog.records if r.name == "lmx.test.jobs"]
    assert len(failures) == 1
    assert failures[0].errorType == "RuntimeError" and failures[0].job == "flaky-job"
    assert "secret detail" not in failures[0].getMessage()


async def test_interval_zero_never_runs():
    runs: list[int] = []

    async def step() -> None:
        runs.append(1)

    async with periodic("never", 0, step, logger):
        await asyncio.sleep(0.05)
    assert runs == []


async def test_true_runs_again_at_once_and_wake_cuts_the_wait_short():
    backlog = [3]
    runs: list[int] = []

    async def step() -> bool:
        runs.append(1)
        backlog[0] -= 1
        return backlog[0] > 0  # a full page: read on at once

    async with periodic("drain", 3600, step, logger) as job:
        await wait_until(lambda: len(runs) == 3)  # without waiting the hour
        job.wake()
        await wait_until(lambda: len(runs) == 4)


async def test_cancellation_is_not_swallowed_as_a_failure(caplog):
    started = asyncio.Event()

    async def step() -> None:
        started.set()
        await asyncio.sleep(3600)

    with caplog.at_level(logging.WARNING, logger="lmx.test.jobs"):
        async with periodic("long", 0.01, step, logger):
            await started.wait()
    assert not [r for r in caplog.records if r.name == "lmx.test.jobs"]


@pytest.mark.parametrize("interval", [-1, 0])
async def test_the_block_yields_a_job_even_when_it_never_runs(interval):
    async def step() -> None:
        raise AssertionError("never")

    async with periodic("off", interval, step, logger) as job:
        job.wake()


async def test_each_run_is_counted_and_is_a_trace_of_its_own():
    from prometheus_client import REGISTRY

    from lmx_common.logging import span_id_var, trace_id_var
    from lmx_common.tracing import trace_context_var

    def sample(name: str) -> float:
        return REGISTRY.get_sample_value(name, {"job": "counted-job"}) or 0.0

    runs_before, failures_before = sample("lmx_job_runs_total"), sample("lmx_job_failures_total")
    seen: list[tuple[str | None, str | None, str | None]] = []

    async def step() -> None:
        context = trace_context_var.get()
        seen.append((context.trace_id if context else None, trace_id_var.get(), span_id_var.get()))
        if len(seen) == 2:
            raise RuntimeError("second run fails")

    async with periodic("counted-job", 0.01, step, logger):
        await wait_until(lambda: len(seen) >= 3)
    ran = sample("lmx_job_runs_total") - runs_before
    assert ran >= 3
    assert sample("lmx_job_failures_total") - failures_before == 1
    assert sample("lmx_job_last_success_timestamp_seconds") > 0
    # The run's ids are in its log lines and go on to its calls; each run has a trace of its own.
    assert all(trace and trace == logged and span for trace, logged, span in seen)
    assert len({trace for trace, _, _ in seen}) == len(seen)
    assert trace_id_var.get() is None and trace_context_var.get() is None  # nothing left behind


async def test_at_shutdown_a_step_under_way_finishes_and_no_new_one_starts():
    started, finished = asyncio.Event(), []

    async def step() -> bool:
        started.set()
        await asyncio.sleep(0.1)  # a batch half done when the block ends
        finished.append(1)
        return True  # "more to do": without the stop it would go again at once

    async with periodic("batch-job", 0.01, step, logger):
        await started.wait()
    assert finished == [1]


async def test_at_shutdown_a_step_that_overruns_the_grace_is_cancelled(monkeypatch):
    monkeypatch.setattr("lmx_common.jobs.STOP_GRACE_SECONDS", 0.05)
    started, cancelled = asyncio.Event(), []

    async def step() -> None:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(1)
            raise

    async with asyncio.timeout(2), periodic("stuck-job", 0.01, step, logger):
        await started.wait()
    assert cancelled == [1]
