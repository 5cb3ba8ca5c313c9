"""The webhook delivery worker: sequences the outbox and delivers due deliveries, signed.

All state is in the database, so the worker survives restarts: a delivery is claimed by moving
its ``next_attempt_at`` one lease into the future before sending; a process killed mid-send
leaves it due again when the lease runs out (receivers deduplicate by ``webhook-id``). At shutdown
the round under way finishes (its attempts recorded) within the webhook timeout plus a margin; one
cut off then is retried after its lease (at-least-once).

Observed (ADR 0029): each round is a job run (``job="webhook-delivery"``: runs, failures, last
success; a trace of its own), each attempt a CLIENT span and a count by outcome
(``lmx_webhook_delivery_attempts_total``), and at most every ``SAMPLE_SECONDS`` the sequencer's
backlog and lag and the pending and dead-lettered deliveries are read into gauges.

Every replica runs a worker: sequencing is serialised by the feed-head row lock (outbox.sequence),
claims by ``SELECT ... FOR UPDATE SKIP LOCKED`` and the lease, so each delivery is sent by one
replica at a time (ADR 0031).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import delete, func, select, update
from standardwebhooks import Webhook

from lmx_common import metrics, telemetry
from lmx_common.db import Database
from lmx_common.events.audience import entitled
from lmx_common.events.callbacks import AddressNotAllowed, CallbackPolicy, Resolver, webhook_client
from lmx_common.events.outbox import SEQUENCE_BATCH, cloud_event_json, sequence_pending
from lmx_common.events.settings import EventSettings
from lmx_common.events.tables import DEAD_LETTERED, DELIVERED, PENDING, EventModels
from lmx_common.jobs import STOP_GRACE_SECONDS, stop_at_safe_point

__all__ = ["DeliveryWorker", "EventSettings", "backoff", "delivery_worker", "failure", "sign"]

logger = logging.getLogger("lmx.events.delivery")


@dataclass(frozen=True)
class _Job:
    delivery_id: int
    event_id: str
    url: str
    secret: str
    body: bytes
    attempts: int


def backoff(settings: EventSettings, failed_attempts: int) -> timedelta:
    """Wait after the n-th failed attempt (n >= 1): base * 2^(n-1), at most the cap."""
    seconds = settings.webhook_backoff_seconds * 2 ** (failed_attempts - 1)
    return timedelta(seconds=min(seconds, settings.webhook_backoff_max_seconds))


def sign(secret: str, event_id: str, body: bytes, at: datetime) -> dict[str, str]:
    """Standard Webhooks headers for one attempt (the timestamp is the attempt's)."""
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, at, body.decode()),
    }


def failure(outcome: Exception | int) -> str:
    """The ``lastError`` a subscriber sees: "delivery failed: <class>", never an exception's name or
    message (they told a caller what answered at an internal address: issue 14). The classes:
    ``timeout``, ``refused`` (no connection, TLS included), ``http-<status>``, ``bad-response``
    (the connection broke or the answer was not HTTP) and ``address-not-allowed`` (the host did not
    resolve to public addresses only, checked just before connecting)."""
    if isinstance(outcome, int):
        kind = f"http-{outcome}"
    elif isinstance(outcome, AddressNotAllowed):
        kind = "address-not-allowed"
    elif isinstance(outcome, httpx.TimeoutException):
        kind = "timeout"
    elif isinstance(outcome, httpx.ConnectError):
        kind = "refused"
    else:
        kind = "bad-response"
    return f"delivery failed: {kind}"


DRAIN_BATCHES = 20  # of SEQUENCE_BATCH events, per round of the worker
SAMPLE_SECONDS = 5.0  # least time between two readings of the backlog gauges
JOB = "webhook-delivery"


class DeliveryWorker:
    """Polls: sequence new events, claim due deliveries, send them, record the outcome."""

    def __init__(
        self, database: Database, models: EventModels, settings: EventSettings, client: httpx.AsyncClient
    ) -> None:
        self.database = database
        self.models = models
        self.settings = settings
        self.client = client
        self._wake = asyncio.Event()
        self._stopping = False
        self._sampled_at: float | None = None
        metrics.job_declared(JOB)

    def wake(self) -> None:
        """Look now rather than at the next poll (e.g. right after a commit)."""
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            with telemetry.job_run(JOB) as span:
                try:
                    await self.run_once()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # keep polling; the database may be back next time
                    logger.warning("delivery round failed", extra={"errorType": type(exc).__name__})
                    telemetry.call_outcome(span, error=exc)
                    metrics.job_ran(JOB, failed=True)
                else:
                    metrics.job_ran(JOB, failed=False)
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.event_poll_seconds)
            self._wake.clear()

    async def run_once(self) -> int:
        """One round; returns how many deliveries were attempted."""
        # A bulk import publishes thousands of events at once: drain up to DRAIN_BATCHES batches per
        # round, and go round again at once while a backlog remains (one batch per poll interval
        # fell behind a 10,000/s import by hours).
        now = time.monotonic()
        if self._sampled_at is None or now - self._sampled_at >= SAMPLE_SECONDS:
            self._sampled_at = now
            await self.sample()  # before sequencing: what waited since the last round
        sequenced = await sequence_pending(self.database, self.models, max_batches=DRAIN_BATCHES)
        if sequenced >= DRAIN_BATCHES * SEQUENCE_BATCH:
            self._wake.set()
        jobs = await self._claim()
        if not jobs:
            return 0
        if len(jobs) >= self.settings.webhook_batch_size:
            self._wake.set()  # a full batch: more may be due, go round again at once (a soak fell behind)
        limit = asyncio.Semaphore(self.settings.webhook_concurrency)

        async def attempt(job: _Job) -> tuple[_Job, int | None, str | None]:
            async with limit:
                return await self._send(job)

        outcomes = await asyncio.gather(*(attempt(job) for job in jobs))
        await self._record(outcomes)
        return len(jobs)

    async def sample(self) -> None:
        """Read the sequencer's backlog and lag and the deliveries waiting or dead into the gauges."""
        outbox, d, source = self.models.outbox, self.models.delivery, self.models.source
        async with self.database.sessionmaker() as session:
            waiting, oldest = (
                await session.execute(
                    select(func.count(), func.min(outbox.occurred_at)).where(outbox.position.is_(None))
                )
            ).one()
            states = dict(
                (
                    await session.execute(
                        select(d.status, func.count()).where(d.status.in_((PENDING, DEAD_LETTERED))).group_by(d.status)
                    )
                ).all()
            )
        metrics.OUTBOX_UNSEQUENCED.labels(source).set(waiting)
        lag = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else 0.0
        metrics.OUTBOX_LAG.labels(source).set(max(0.0, lag))
        for state in (PENDING, DEAD_LETTERED):
            metrics.WEBHOOK_DELIVERIES.labels(source, state).set(states.get(state, 0))

    async def _claim(self) -> list[_Job]:
        d, sub, outbox = self.models.delivery, self.models.subscription, self.models.outbox
        now = datetime.now(UTC)
        lease_until = now + timedelta(seconds=self.settings.webhook_lease_seconds)
        async with self.database.sessionmaker() as session, session.begin():
            # PostgreSQL: FOR UPDATE SKIP LOCKED, so replicas claiming at the same moment take
            # different deliveries instead of queueing behind each other's row locks (ADR 0031).
            # SQLite ignores it (one writer). The lease in the UPDATE is what survives the commit.
            due = list(
                (
                    await session.execute(
                        select(d.id)
                        .where(d.status == PENDING, d.next_attempt_at <= now)
                        .order_by(d.next_attempt_at, d.position)
                        .limit(self.settings.webhook_batch_size)
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            if not due:
                return []
            # The condition still decides (a replay or unsubscribe may have committed meanwhile).
            claimed = list(
                (
                    await session.execute(
                        update(d)
                        .where(d.id.in_(due), d.status == PENDING, d.next_attempt_at <= now)
                        .values(next_attempt_at=lease_until)
                        .returning(d.id)
                    )
                ).scalars()
            )
            if not claimed:
                return []
            rows = (
                await session.execute(
                    select(d.id, d.attempts, sub.callback_url, sub.secret, sub.parties, outbox)
                    .join(sub, sub.id == d.subscription_id)
                    .join(outbox, outbox.id == d.event_id)
                    .where(d.id.in_(claimed))
                    .order_by(d.position)
                )
            ).all()
            # The fan-out makes no delivery for a subscriber outside the event's audience; one made
            # before audiences were kept (docs/decisions/0028), or replayed since, is dropped unsent.
            barred = [row[0] for row in rows if not entitled(row[5].audience, row[4])]
            if barred:
                await session.execute(delete(d).where(d.id.in_(barred)))
        return [
            _Job(delivery_id, event.id, url, secret, cloud_event_json(event, self.models.source), attempts)
            for delivery_id, attempts, url, secret, _parties, event in rows
            if delivery_id not in barred
        ]

    async def _send(self, job: _Job) -> tuple[_Job, int | None, str | None]:
        headers = sign(job.secret, job.event_id, job.body, datetime.now(UTC))
        headers["content-type"] = "application/cloudevents+json"
        # A span of the round's trace; the subscriber (outside) is sent no trace headers.
        attributes = {"http.request.method": "POST", "lmx.delivery_id": job.delivery_id, "lmx.event_id": job.event_id}
        with telemetry.client_call("POST webhook", attributes) as (_carried, span):
            try:
                response = await self.client.post(
                    job.url, content=job.body, headers=headers, timeout=self.settings.webhook_timeout_seconds
                )
            except Exception as exc:  # whatever it was, the subscriber learns only its class
                logger.info(
                    "delivery attempt failed",
                    extra={"eventId": job.event_id, "deliveryId": job.delivery_id, "errorType": type(exc).__name__},
                )
                telemetry.call_outcome(span, error=exc)
                return job, None, failure(exc)
            telemetry.call_outcome(span, response.status_code)
        if 200 <= response.status_code < 300:
            return job, response.status_code, None
        return job, response.status_code, failure(response.status_code)

    async def _record(self, outcomes: list[tuple[_Job, int | None, str | None]]) -> None:
        d = self.models.delivery
        now = datetime.now(UTC)
        async with self.database.sessionmaker() as session, session.begin():
            for job, status_code, error in outcomes:
                attempts = job.attempts + 1
                values: dict[str, object] = {
                    "attempts": attempts,
                    "last_attempt_at": now,
                    "last_status_code": status_code,
                    "last_error": error,
                }
                if error is None:
                    values |= {"status": DELIVERED, "delivered_at": now, "next_attempt_at": None}
                    outcome = "delivered"
                elif attempts >= self.settings.webhook_max_attempts:
                    values |= {"status": DEAD_LETTERED, "next_attempt_at": None}
                    outcome = "dead-lettered"
                    logger.warning(
                        "delivery dead-lettered", extra={"eventId": job.event_id, "deliveryId": job.delivery_id}
                    )
                else:
                    values["next_attempt_at"] = now + backoff(self.settings, attempts)
                    outcome = "retry"
                metrics.WEBHOOK_ATTEMPTS.labels(self.models.source, outcome).inc()
                # Only if still ours: a replay or unsubscribe in between wins.
                await session.execute(update(d).where(d.id == job.delivery_id, d.status == PENDING).values(**values))


@asynccontextmanager
async def delivery_worker(
    database: Database, models: EventModels, settings: EventSettings, *, resolver: Resolver | None = None
) -> AsyncIterator[DeliveryWorker]:
    """Run the worker for as long as the block lasts (a service's ``background`` context).

    Its client connects only to addresses the callback policy allows, checked for each new
    connection (``resolver``: how host names are resolved; the system's by default).
    """
    policy = CallbackPolicy.from_settings(settings, resolver=resolver)
    async with webhook_client(policy) as client:
        worker = DeliveryWorker(database, models, settings, client)
        task = asyncio.create_task(worker.run(), name="webhook-delivery")
        try:
            yield worker
        finally:
            worker._stopping = True
            worker.wake()
            await stop_at_safe_point(task, settings.webhook_timeout_seconds + STOP_GRACE_SECONDS)
