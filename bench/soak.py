"""`make soak`: the whole stack on PostgreSQL and Redis under a mixed load for a bounded time.

    .venv/bin/python bench/soak.py [--seconds 600] [--rate 12] [--workers 8]      (SOAK_SECONDS=…)

1. fresh PostgreSQL databases <prefix>_<component> (created as bench/run.py and the tests do), Redis
   for the gateway's rate limits, and the stack started as `make run` does (`lmx up`, demo clients);
2. a webhook receiver on this machine and a registry subscription for registration events;
3. for SECONDS, WORKERS clients paced to RATE operations per second drive a mix through the gateway:
   registrations created, read, listed, updated (merge patch with If-Match) and departed, bulk imports
   (NDJSON), statistics, fair share and token requests;
4. reports errors (every status other than the operation's expected one, and every failed request),
   latency percentiles per operation, resident memory per process sampled every few seconds (growth
   after the warm-up), webhooks received, and the outbox backlog at the end, read from the databases;
5. writes var/soak/latest.json and var/soak/latest.md (and a timestamped copy) and prints the summary.

Exit status 0 when every goal is met (no errors, RSS growth under 10 % after the warm-up, backlog 0),
1 when one is not. Never part of `make test`; tests/e2e/test_soak_smoke.py runs it for a few seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx

ROOT = Path(__file__).resolve().parent.parent
LMX = str(Path(sys.executable).parent / "lmx")
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from run import recreate, rss_mb  # noqa: E402  (bench/run.py: the benchmark's helpers)

from tests.support.registrations import make_registration  # noqa: E402
from tests.support.servers import free_port  # noqa: E402

COMPONENTS = ("gateway", "registry", "certification", "housing")
EVENT_DATABASES = ("registry", "certification", "housing")
RSS_GROWTH_GOAL = 0.10
# Processing activities (ADR 0024): what a municipality and the information point name.
MUNICIPALITY_ACTIVITY = "lmx-registration"
MIP_ACTIVITY = "lmx-information-point"
# Operation → weight in the mix.
MIX: dict[str, int] = {
    "read": 30,
    "list": 8,
    "create": 15,
    "update": 10,
    "depart": 5,
    "bulk": 1,
    "statistics": 10,
    "fair-share": 5,
    "report": 3,
    "token": 2,
}
# A bulk import of BULK_LINES registrations publishes as many events. Each service's webhook delivery
# sends one batch (webhook_batch_size, 50) per poll interval (1 s) while deliveries are due, so the mix
# keeps its events (about 5/s at the default rate) below that; docs/performance.md ("Soak").
BULK_LINES = 20
TOKEN_REFRESH_SECONDS = 200  # tokens live 300 s
# The municipalities' own registrations: (client role, residence municipality).
MUNICIPALITIES = (("halderberge", "GM1655"), ("breda", "GM0758"))
# The parties the load plays (the demo clients of `lmx up`, lmx_cli/demo.py, by id): role → (client id, secret).
ROLES = ("halderberge", "breda", "mip-west-brabant", "national", "noord-brabant")
Clients = dict[str, tuple[str, str]]
# What the webhook receiver subscribes to: (service, event types), as the client in role "halderberge".
SUBSCRIPTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("registry", ("registration.created", "registration.departed")),
    ("certification", ("report.created",)),
)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, Counter[str]] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)

    def ok(self, op: str, seconds: float) -> None:
        self.latencies.setdefault(op, []).append(seconds * 1000)

    def error(self, op: str, kind: str, detail: str) -> None:
        self.errors.setdefault(op, Counter())[kind] += 1
        if len(self.samples) < 20:
            self.samples.append(f"{op}: {kind}: {detail[:300]}")

    @property
    def error_count(self) -> int:
        return sum(sum(c.values()) for c in self.errors.values())

    def table(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for op in sorted(set(self.latencies) | set(self.errors)):
            values = sorted(self.latencies.get(op, []))
            errors = sum(self.errors.get(op, Counter()).values())
            out[op] = {
                "count": len(values) + errors,
                "errors": errors,
                "p50_ms": round(percentile(values, 50), 1),
                "p95_ms": round(percentile(values, 95), 1),
                "p99_ms": round(percentile(values, 99), 1),
                "max_ms": round(values[-1], 1) if values else float("nan"),
            }
        return out


class Unexpected(Exception):
    """A response whose status is not the operation's expected one."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code} {response.request.method} {response.request.url.path}")
        self.response = response


class Load:
    """The mixed load: each operation is one or two gateway calls, timed as one."""

    def __init__(self, http: httpx.AsyncClient, gateway: str, clients: Clients, seed: int = 17) -> None:
        self.http = http
        self.gateway = gateway
        self.clients = clients
        self.rng = random.Random(seed)
        self.tally = Tally()
        self.tokens: dict[str, tuple[str, float]] = {}
        # Registrations each municipality made and may change: taken out while one worker uses them.
        self.active: dict[str, list[str]] = {client: [] for client, _ in MUNICIPALITIES}
        self.departed: dict[str, list[str]] = {client: [] for client, _ in MUNICIPALITIES}
        self.created = 0
        self.departures = 0
        self.bulk_created = 0
        self.reports = 0
        self.token_retries = 0

    # -- plumbing -------------------------------------------------------------------------------
    def expect(self, response: httpx.Response, status: int) -> httpx.Response:
        if response.status_code != status:
            raise Unexpected(response)
        return response

    async def request_token(self, client: str) -> httpx.Response:
        """POST /oauth/token as a well-behaved client: after a 503 `temporarily_unavailable` (too many
        secrets being verified at once) it waits the Retry-After and asks once more (counted)."""
        response = await self.http.post(
            self.gateway + "/oauth/token", data={"grant_type": "client_credentials"}, auth=self.clients[client]
        )
        if response.status_code == 503 and "retry-after" in response.headers:
            self.token_retries += 1
            await asyncio.sleep(min(5.0, float(response.headers["retry-after"])))
            response = await self.http.post(
                self.gateway + "/oauth/token", data={"grant_type": "client_credentials"}, auth=self.clients[client]
            )
        return response

    async def fetch_token(self, client: str) -> str:
        started = time.perf_counter()
        response = await self.request_token(client)
        self.expect(response, 200)
        self.tally.ok("token", time.perf_counter() - started)
        token = str(response.json()["access_token"])
        self.tokens[client] = (token, time.monotonic())
        return token

    async def headers(self, client: str, activity: str | None = None) -> dict[str, str]:
        token, fetched = self.tokens.get(client, ("", 0.0))
        if not token or time.monotonic() - fetched > TOKEN_REFRESH_SECONDS:
            try:
                token = await self.fetch_token(client)
            except Unexpected as exc:
                self.tally.error("token", f"HTTP {exc.response.status_code}", exc.response.text)
                raise
        headers = {"Authorization": f"Bearer {token}"}
        if activity:
            headers["X-Processing-Activity"] = activity
        return headers

    def municipality(self) -> tuple[str, str]:
        return self.rng.choice(MUNICIPALITIES)

    @contextlib.contextmanager
    def borrow(self, client: str) -> Iterator[str | None]:
        """One of the client's active registrations, kept from the other workers while in use."""
        pool = self.active[client]
        if not pool:
            yield None
            return
        index = self.rng.randrange(len(pool))
        pool[index], pool[-1] = pool[-1], pool[index]
        registration = pool.pop()
        try:
            yield registration
        finally:
            pool.append(registration)

    # -- the operations -------------------------------------------------------------------------
    async def op_create(self) -> None:
        client, code = self.municipality()
        body = make_registration(**{"residence.municipalityCode": code, "residence.postcode": "4731AB"})
        headers = await self.headers(client, MUNICIPALITY_ACTIVITY)
        response = await self.http.post(self.gateway + "/registry/v1/registrations", json=body, headers=headers)
        self.expect(response, 201)
        self.active[client].append(str(response.json()["id"]))
        self.created += 1

    async def op_read(self) -> None:
        client, _ = self.municipality()
        known = self.active[client] + self.departed[client]
        if not known:
            return await self.op_create()
        headers = await self.headers(client, MUNICIPALITY_ACTIVITY)
        url = f"{self.gateway}/registry/v1/registrations/{self.rng.choice(known)}"
        self.expect(await self.http.get(url, headers=headers), 200)
        return None

    async def op_list(self) -> None:
        client, _ = self.municipality()
        headers = await self.headers(client, MUNICIPALITY_ACTIVITY)
        url = f"{self.gateway}/registry/v1/registrations?pageSize=20"
        self.expect(await self.http.get(url, headers=headers), 200)

    async def op_update(self) -> None:
        client, _ = self.municipality()
        with self.borrow(client) as registration:
            if registration is None:
                return await self.op_create()
            headers = await self.headers(client, MUNICIPALITY_ACTIVITY)
            url = f"{self.gateway}/registry/v1/registrations/{registration}"
            current = self.expect(await self.http.get(url, headers=headers), 200)
            change = {"residence": {"housingLocationId": f"loc-soak-{self.rng.randrange(1, 50)}"}}
            patch_headers = headers | {
                "If-Match": current.headers["etag"],
                "Content-Type": "application/merge-patch+json",
            }
            self.expect(await self.http.patch(url, content=json.dumps(change), headers=patch_headers), 200)
        return None

    async def op_depart(self) -> None:
        client, _ = self.municipality()
        pool = self.active[client]
        if len(pool) < 5:  # keep some to read and change
            return await self.op_create()
        registration = pool.pop(self.rng.randrange(len(pool)))
        headers = await self.headers(client, MUNICIPALITY_ACTIVITY)
        departure = {
            "date": date.today().isoformat(),
            "reason": "contract-ended",
            "destination": {"type": "abroad", "countryCode": "PL"},
        }
        url = f"{self.gateway}/registry/v1/registrations/{registration}/departure"
        try:
            self.expect(await self.http.post(url, json=departure, headers=headers), 200)
        except Exception:
            pool.append(registration)
            raise
        self.departed[client].append(registration)
        self.departures += 1
        return None

    async def op_bulk(self) -> None:
        lines = []
        for _ in range(BULK_LINES):
            work = self.rng.choice(("GM1709", "GM0758", "GM1655", "GM0826"))
            lines.append(json.dumps(make_registration(**{"work.municipalityCode": work})))
        headers = await self.headers("mip-west-brabant", MIP_ACTIVITY)
        headers["Content-Type"] = "application/x-ndjson"
        response = self.expect(
            await self.http.post(
                self.gateway + "/registry/v1/registrations/bulk", content="\n".join(lines).encode(), headers=headers
            ),
            200,
        )
        created = int(response.json()["created"])
        if created != BULK_LINES:
            raise RuntimeError(f"bulk import created {created} of {BULK_LINES}")
        self.bulk_created += created

    async def op_statistics(self) -> None:
        client = self.rng.choice(("national", "noord-brabant"))
        path = self.rng.choice(("work-residence", "municipalities", "departures"))
        headers = await self.headers(client)
        self.expect(await self.http.get(f"{self.gateway}/registry/v1/statistics/{path}", headers=headers), 200)

    async def op_fair_share(self) -> None:
        client = self.rng.choice(("national", "noord-brabant"))
        query = self.rng.choice(("regionCode=west-brabant", "provinceCode=PV30"))
        headers = await self.headers(client)
        self.expect(await self.http.get(f"{self.gateway}/housing/v1/fair-share?{query}", headers=headers), 200)

    async def op_report(self) -> None:
        """A municipality reports abuse at an employer to the certification service (an event)."""
        client, code = self.municipality()
        headers = await self.headers(client)
        body = {
            "kvkNumber": f"{self.rng.randrange(10_000_000, 100_000_000)}",
            "municipalityCode": code,
            "category": self.rng.choice(("underpayment", "overcrowding")),
            "description": "Soak test report.",
            "observedOn": (date.today() - timedelta(days=self.rng.randrange(1, 30))).isoformat(),
        }
        self.expect(await self.http.post(self.gateway + "/certification/v1/reports", json=body, headers=headers), 201)
        self.reports += 1

    async def op_token(self) -> None:
        client = self.rng.choice(sorted(self.clients))
        started = time.perf_counter()
        response = await self.request_token(client)
        self.expect(response, 200)
        self.tally.ok("token", time.perf_counter() - started)

    def operations(self) -> dict[str, Callable[[], Awaitable[None]]]:
        return {
            "read": self.op_read,
            "list": self.op_list,
            "create": self.op_create,
            "update": self.op_update,
            "depart": self.op_depart,
            "bulk": self.op_bulk,
            "statistics": self.op_statistics,
            "fair-share": self.op_fair_share,
            "report": self.op_report,
            "token": self.op_token,
        }

    async def run_one(self, op: str) -> None:
        started = time.perf_counter()
        try:
            await self.operations()[op]()
        except Unexpected as exc:
            self.tally.error(op, f"HTTP {exc.response.status_code}", exc.response.text)
        except (httpx.HTTPError, RuntimeError, KeyError, ValueError) as exc:
            self.tally.error(op, type(exc).__name__, str(exc))
        else:
            if op != "token":  # timed by op_token itself (without the caller's own token fetch)
                self.tally.ok(op, time.perf_counter() - started)

    async def drive(self, seconds: float, rate: float, workers: int, mix: dict[str, int] | None = None) -> float:
        """Run the mix for SECONDS; WORKERS concurrent clients, at most RATE operations per second.
        Returns the seconds it took."""
        mix = mix or MIX
        names = list(mix)
        weights = [mix[n] for n in names]
        started = time.monotonic()
        deadline = started + seconds
        ticket = itertools.count()

        async def worker() -> None:
            while True:
                # Paced: the n-th operation starts no earlier than n / rate seconds in; none starts after
                # the deadline, however far behind the pace the stack has fallen.
                due = started + next(ticket) / rate
                if due >= deadline or time.monotonic() >= deadline:
                    return
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self.run_one(self.rng.choices(names, weights)[0])

        await asyncio.gather(*(worker() for _ in range(workers)))
        return time.monotonic() - started


# ---------------------------------------------------------------------------------------------
# Memory and backlog
# ---------------------------------------------------------------------------------------------


class MemorySampler:
    """Resident memory of each process every INTERVAL seconds, in a thread."""

    def __init__(self, pids: dict[str, int], interval: float) -> None:
        self.pids = pids
        self.interval = interval
        self.samples: dict[str, list[tuple[float, float]]] = {name: [] for name in pids}
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        at = round(time.monotonic() - self.started, 1)
        for name, pid in self.pids.items():
            with contextlib.suppress(OSError):
                self.samples[name].append((at, round(rss_mb(pid), 1)))

    def _run(self) -> None:
        self._sample()
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def summary(self, warmup: float) -> dict[str, dict[str, Any]]:
        """Per process: after the warm-up, the median of the first three samples against the median
        of the last three (growth), and the peak."""
        out: dict[str, dict[str, Any]] = {}
        for name, samples in self.samples.items():
            after = [mb for at, mb in samples if at >= warmup] or [mb for _, mb in samples]
            first = sorted(after[:3])[len(after[:3]) // 2]
            last = sorted(after[-3:])[len(after[-3:]) // 2]
            out[name] = {
                "start_mb": samples[0][1],
                "after_warmup_mb": first,
                "end_mb": last,
                "peak_mb": max(mb for _, mb in samples),
                "growth_after_warmup": round((last - first) / first, 4),
                "samples": samples,
            }
        return out


async def backlog(databases: dict[str, str], subscriptions: list[str]) -> dict[str, dict[str, int]]:
    """Per service database (component → PostgreSQL DSN): outbox events not yet in the feed, and the
    deliveries of SUBSCRIPTIONS ("service:id", the soak's own) pending, dead-lettered and delivered."""
    out: dict[str, dict[str, int]] = {}
    for component in EVENT_DATABASES:
        conn = await asyncpg.connect(databases[component].replace("postgresql+asyncpg://", "postgresql://"))
        try:
            counts: dict[str, int] = {}
            if await conn.fetchval("SELECT to_regclass('outbox_events') IS NOT NULL"):
                counts["unsequenced"] = await conn.fetchval("SELECT count(*) FROM outbox_events WHERE position IS NULL")
            if await conn.fetchval("SELECT to_regclass('event_deliveries') IS NOT NULL"):
                ours = [s.partition(":")[2] for s in subscriptions if s.partition(":")[0] == component]
                rows = await conn.fetch(
                    "SELECT status, count(*) AS n FROM event_deliveries WHERE subscription_id = ANY($1::text[]) "
                    "GROUP BY status",
                    ours,
                )
                by_status = {str(r["status"]): int(r["n"]) for r in rows}
                counts["pending_deliveries"] = by_status.get("pending", 0)
                counts["dead_lettered"] = by_status.get("dead-lettered", 0)
                counts["delivered"] = by_status.get("delivered", 0)
            out[component] = counts
        finally:
            await conn.close()
    return out


def backlog_total(counts: dict[str, dict[str, int]]) -> int:
    return sum(c.get("unsequenced", 0) + c.get("pending_deliveries", 0) for c in counts.values())


# ---------------------------------------------------------------------------------------------
# The stack
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def webhook_receiver(timeout: float = 30) -> Iterator[str]:
    """bench/webhook_receiver.py in its own process (not competing with the load for this one's CPU)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([sys.executable, str(ROOT / "bench" / "webhook_receiver.py"), "--port", str(port)])
    try:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/stats", timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the webhook receiver did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_ready(ports: dict[str, int], stack: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = dict(ports)
    while pending:
        if stack.poll() is not None:
            raise SystemExit(f"`lmx up` exited with {stack.returncode} before the stack was ready")
        if time.monotonic() > deadline:
            raise SystemExit(f"the stack was not ready within {timeout:.0f} s: {sorted(pending)}")
        for name, port in list(pending.items()):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code == 200:
                    del pending[name]
        time.sleep(0.3)


async def subscribe(
    load: Load, callback: str, subscriptions: tuple[tuple[str, tuple[str, ...]], ...] = SUBSCRIPTIONS
) -> list[str]:
    """Subscribe the receiver (as the client in role "halderberge") at each service; returns the ids."""
    ids = []
    headers = await load.headers("halderberge")
    for service, event_types in subscriptions:
        response = await load.http.post(
            f"{load.gateway}/{service}/v1/subscriptions",
            json={"callbackUrl": callback, "eventTypes": list(event_types)},
            headers=headers,
        )
        if response.status_code != 201:
            raise SystemExit(f"subscribing at {service} failed: HTTP {response.status_code} {response.text}")
        ids.append(f"{service}:{response.json()['id']}")
    return ids


async def soak(
    gateway: str,
    clients: Clients,
    hooks: str,
    databases: dict[str, str],
    *,
    seconds: float,
    rate: float,
    workers: int,
    request_timeout: float = 30,
    drain_seconds: float = 60,
    seed: int = 17,
    subscriptions: tuple[tuple[str, tuple[str, ...]], ...] = SUBSCRIPTIONS,
    mix: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Subscribe the receiver, drive the mix, then wait (up to DRAIN_SECONDS) for the outbox to drain."""
    limits = httpx.Limits(max_connections=workers * 2, max_keepalive_connections=workers * 2)
    async with httpx.AsyncClient(timeout=request_timeout, limits=limits) as http:
        load = Load(http, gateway, clients, seed=seed)
        subscribed = await subscribe(load, hooks + "/lmx", subscriptions)
        took = await load.drive(seconds, rate, workers, mix)
    at_stop = await backlog(databases, subscribed)
    drain_started = time.monotonic()
    after = at_stop
    while backlog_total(after) and time.monotonic() - drain_started < drain_seconds:
        await asyncio.sleep(1)
        after = await backlog(databases, subscribed)
    async with httpx.AsyncClient(timeout=10) as http:
        received = (await http.get(hooks + "/stats")).json()
    operations = load.tally.table()
    total = sum(int(o["count"]) for o in operations.values())
    return {
        "seconds": round(took, 1),
        "rate": rate,
        "workers": workers,
        "operations_total": total,
        "operations_per_second": round(total / took, 1),
        "operations": operations,
        "errors": load.tally.error_count,
        "errors_by_operation": {op: dict(c) for op, c in load.tally.errors.items()},
        "token_retries_after_503": load.token_retries,
        "error_samples": load.tally.samples,
        "registrations": {"created": load.created, "bulk_created": load.bulk_created, "departed": load.departures},
        "reports": load.reports,
        "webhooks": {
            "subscriptions": subscribed,
            "requests_received": int(received["requests"]),
            "distinct_events": int(received["distinct"]),
        },
        "backlog_at_stop": at_stop,
        "backlog_at_end": after,
        "backlog_drain_seconds": round(time.monotonic() - drain_started, 1),
    }


def finish(result: dict[str, Any], rss: dict[str, dict[str, Any]], warmup: float, **extra: Any) -> dict[str, Any]:
    """The report: the soak's result, memory, and whether each goal was met."""
    goals = {
        "errors": result["errors"] == 0,
        "backlog": backlog_total(result["backlog_at_end"]) == 0
        and all(c.get("dead_lettered", 0) == 0 for c in result["backlog_at_end"].values()),
        "rss": all(m["growth_after_warmup"] < RSS_GROWTH_GOAL for m in rss.values()),
    }
    return {**extra, "warmup_seconds": round(warmup), **result, "rss": rss, "goals": goals}


def markdown(report: dict[str, Any]) -> str:
    goals = report["goals"]
    lines = [
        f"# Soak {report['started']} ({report['seconds']} s)",
        "",
        f"Machine: {report['machine']}",
        "",
        f"Mix at {report['rate']} operations/s target, {report['workers']} workers: "
        f"{report['operations_total']:,} operations, {report['operations_per_second']} /s achieved.",
        "",
        f"- errors: **{report['errors']}** (goal 0) {'✔' if goals['errors'] else '✘'}; token requests "
        f"retried once after a 503 with Retry-After (secret verification busy): {report['token_retries_after_503']}",
        f"- outbox backlog at the end: **{backlog_total(report['backlog_at_end'])}** (goal 0; "
        f"{backlog_total(report['backlog_at_stop'])} when the load stopped, drained in "
        f"{report['backlog_drain_seconds']} s) {'✔' if goals['backlog'] else '✘'}",
        f"- RSS growth after the {report['warmup_seconds']} s warm-up: largest "
        f"**{max(m['growth_after_warmup'] for m in report['rss'].values()):+.1%}** (goal under "
        f"{RSS_GROWTH_GOAL:.0%}) {'✔' if goals['rss'] else '✘'}",
        f"- registrations created {report['registrations']['created']:,}, by bulk "
        f"{report['registrations']['bulk_created']:,}, departed {report['registrations']['departed']:,}; "
        f"reports {report['reports']:,}; webhook deliveries received {report['webhooks']['requests_received']:,} "
        f"({report['webhooks']['distinct_events']:,} distinct)",
        "",
        "| operation | count | errors | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for op, o in report["operations"].items():
        lines.append(
            f"| {op} | {o['count']:,} | {o['errors']} | {o['p50_ms']} | {o['p95_ms']} | {o['p99_ms']} | {o['max_ms']} |"
        )
    lines += [
        "",
        "| process | RSS start MB | after warm-up MB | end MB | peak MB | growth after warm-up |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, m in report["rss"].items():
        lines.append(
            f"| {name} | {m['start_mb']} | {m['after_warmup_mb']} | {m['end_mb']} | {m['peak_mb']} | "
            f"{m['growth_after_warmup']:+.1%} |"
        )
    if report["error_samples"]:
        lines += ["", "First errors:", "", *[f"- `{s}`" for s in report["error_samples"]]]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 600)))
    parser.add_argument("--rate", type=float, default=float(os.environ.get("SOAK_RATE", 12)), help="operations/s")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("SOAK_WORKERS", 8)))
    parser.add_argument("--rss-interval", type=float, default=float(os.environ.get("SOAK_RSS_INTERVAL", 5)))
    parser.add_argument(
        "--warmup", type=float, default=None, help="seconds before RSS growth counts (default: 20%%, at most 120)"
    )
    parser.add_argument("--drain-seconds", type=float, default=60, help="longest wait for the backlog to drain")
    parser.add_argument("--request-timeout", type=float, default=30)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument(
        "--postgres", default=os.environ.get("LMX_SOAK_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
    )
    parser.add_argument("--redis", default=os.environ.get("LMX_SOAK_REDIS", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--prefix", default="lmx_soak", help="database names <prefix>_<component>, made afresh")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "soak")
    args = parser.parse_args()
    warmup = args.warmup if args.warmup is not None else min(120.0, args.seconds * 0.2)

    asyncio.run(recreate([f"{args.prefix}_{c}" for c in COMPONENTS], args.postgres + "/postgres"))
    databases = {c: f"{args.postgres}/{args.prefix}_{c}" for c in COMPONENTS}
    env = dict(os.environ)
    for component, dsn in databases.items():
        env[f"{component.upper()}_DATABASE_URL"] = dsn.replace("postgresql://", "postgresql+asyncpg://")
    env.update(
        GATEWAY_REDIS_URL=args.redis,
        # Per client well above the mix (the limiter still counts every call in Redis); the anonymous
        # limit (token requests per address) stays as shipped.
        GATEWAY_RATE_LIMIT="6000/minute",
        # The receiver listens on this machine, which callback URLs may name only when allowed.
        REGISTRY_WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
        CERTIFICATION_WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
    )
    args.out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="lmx-soak-"))
    ports = {c: free_port() for c in COMPONENTS}
    started_at = datetime.now(UTC)
    log = (args.out / "stack.log").open("wb")
    stack = subprocess.Popen(
        [LMX, "up", *[f"--{c}-port={p}" for c, p in ports.items()]],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_ready(ports, stack, timeout=180)
        pids = {name: int(s["pid"]) for name, s in json.loads((workdir / "var" / "stack.json").read_text()).items()}
        credentials = json.loads((workdir / "var" / "demo-clients.json").read_text())
        clients = {role: (role, str(credentials[role]["clientSecret"])) for role in ROLES}
        gateway = f"http://127.0.0.1:{ports['gateway']}"
        print(f"soak: {args.seconds:.0f} s at {args.rate:g} operations/s through {gateway} …", flush=True)
        with webhook_receiver() as hooks, MemorySampler(pids, args.rss_interval) as memory:
            result = asyncio.run(
                soak(
                    gateway,
                    clients,
                    hooks,
                    databases,
                    seconds=args.seconds,
                    rate=args.rate,
                    workers=args.workers,
                    request_timeout=args.request_timeout,
                    drain_seconds=args.drain_seconds,
                    seed=args.seed,
                )
            )
    finally:
        stack.send_signal(signal.SIGINT)
        try:
            stack.wait(timeout=60)
        except subprocess.TimeoutExpired:
            stack.kill()
        log.close()

    report = finish(
        result,
        memory.summary(warmup),
        warmup,
        started=f"{started_at:%Y-%m-%d %H:%M} UTC",
        machine=f"{platform.node()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, PostgreSQL and Redis on the same machine",
        rss_interval_seconds=args.rss_interval,
    )
    stamp = f"{started_at:%Y%m%dT%H%M%S}"
    text = markdown(report)
    for name in ("latest", f"soak-{stamp}"):
        (args.out / f"{name}.json").write_text(json.dumps(report, indent=2))
        (args.out / f"{name}.md").write_text(text)
    print("\n" + text)
    print(f"written to {args.out / 'latest.json'} and {args.out / 'latest.md'}")
    return 0 if all(report["goals"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
