"""Prometheus metrics of every component, served on a port of their own (ADR 0029).

The series are defined once here, in prometheus-client's default registry, and updated where the
work happens: the request middleware (every request, by route *template*), the gateway's proxy,
rate limiter and token endpoint, the periodic jobs, the webhook worker and the database pools.

They are served by :func:`serve`, started in each component's lifespan when
``<PREFIX>_METRICS_PORT`` is set (``GATEWAY_METRICS_PORT``, ``REGISTRY_METRICS_PORT``, ...): a plain
HTTP server on its own port, never one of the API's routes, so the gateway has no way to reach it.
Each component runs as one uvicorn process per pod (no ``--workers``): the in-process registry is
the whole truth of that process, and Prometheus adds the replicas up.

Labels are small closed sets (component, method, route template, status, service, outcome, state,
job, database): never a path with ids in it, a client id or anything a caller chooses.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger("lmx.metrics")

# The route label of a request no route matched (a 404, a refused path): never the raw path.
UNMATCHED = "<unmatched>"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter(
    "lmx_http_requests",
    "HTTP requests answered, by component, method, route template and status.",
    ("component", "method", "route", "status"),
)
HTTP_DURATION = Histogram(
    "lmx_http_request_duration_seconds",
    "Time from the request's arrival to the end of its answer, by component, method and route template.",
    ("component", "method", "route"),
    buckets=_LATENCY_BUCKETS,
)

# The gateway.
UPSTREAM_DURATION = Histogram(
    "lmx_gateway_upstream_request_duration_seconds",
    "Proxied calls that got an HTTP answer from the service: time to the whole answer, by service.",
    ("service",),
    buckets=_LATENCY_BUCKETS,
)
UPSTREAM_ERRORS = Counter(
    "lmx_gateway_upstream_errors",
    "Proxied calls that got no usable answer, by service and kind: unreachable (503), timeout (504), "
    "bad-response (502), saturated (no free connection, 503), circuit-open (503).",
    ("service", "kind"),
)
RATE_LIMITED = Counter(
    "lmx_gateway_rate_limited",
    "Calls refused 429 by the gateway's rate limit, by kind: client (per client id) or anonymous (per address).",
    ("kind",),
)
TOKEN_REQUESTS = Counter(
    "lmx_gateway_token_requests",
    "Token endpoint requests by outcome: issued, or the OAuth error code answered (invalid_client, ...).",
    ("outcome",),
)

# The event exchange of each service (lmx_common/events).
OUTBOX_UNSEQUENCED = Gauge(
    "lmx_outbox_unsequenced_events",
    "Committed events not yet given a feed position (the sequencer's backlog), by event source.",
    ("source",),
)
OUTBOX_LAG = Gauge(
    "lmx_outbox_oldest_unsequenced_age_seconds",
    "Age of the oldest event not yet sequenced (0 when none wait): the sequencer's lag, by event source.",
    ("source",),
)
WEBHOOK_DELIVERIES = Gauge(
    "lmx_webhook_deliveries",
    "Webhook deliveries now in a state: pending (due or waiting for a retry) or dead-lettered, by event source.",
    ("source", "state"),
)
WEBHOOK_ATTEMPTS = Counter(
    "lmx_webhook_delivery_attempts",
    "Webhook delivery attempts by outcome: delivered, retry (failed, tried again later), dead-lettered.",
    ("source", "outcome"),
)

# Background jobs (lmx_common/jobs.py and the webhook worker).
JOB_RUNS = Counter("lmx_job_runs", "Runs of a periodic job's step, by job.", ("job",))
JOB_FAILURES = Counter("lmx_job_failures", "Runs of a periodic job's step that raised, by job.", ("job",))
JOB_LAST_SUCCESS = Gauge(
    "lmx_job_last_success_timestamp_seconds", "Unix time of the last run of a job that did not raise.", ("job",)
)


def job_ran(job: str, failed: bool) -> None:
    JOB_RUNS.labels(job).inc()
    if failed:
        JOB_FAILURES.labels(job).inc()
    else:
        JOB_LAST_SUCCESS.labels(job).set_to_current_time()


def job_declared(job: str) -> None:
    """Make a job's series exist (at zero) from start-up, so a dashboard sees it before its first run."""
    JOB_RUNS.labels(job)
    JOB_FAILURES.labels(job)


class _PoolCollector(Collector):
    """The database pools of the live engines, read at scrape time (a gauge set per request would cost more)."""

    def __init__(self) -> None:
        self._engines: weakref.WeakValueDictionary[str, AsyncEngine] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()

    def add(self, name: str, engine: AsyncEngine) -> None:
        with self._lock:
            self._engines[name] = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        checked_out = GaugeMetricFamily(
            "lmx_db_pool_checked_out_connections",
            "Connections of the pool in use now, by database.",
            labels=["database"],
        )
        size = GaugeMetricFamily(
            "lmx_db_pool_size",
            "Connections the pool keeps (its size, without overflow), by database.",
            labels=["database"],
        )
        overflow = GaugeMetricFamily(
            "lmx_db_pool_overflow_connections",
            "Connections open beyond the pool's size now (negative: fewer open than its size), by database.",
            labels=["database"],
        )
        with self._lock:
            engines = list(self._engines.items())
        for name, engine in engines:
            pool: Any = engine.sync_engine.pool
            for family, method in ((checked_out, "checkedout"), (size, "size"), (overflow, "overflow")):
                read = getattr(pool, method, None)
                if callable(read):
                    family.add_metric([name], float(read()))
        yield checked_out
        yield size
        yield overflow

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []


POOLS = _PoolCollector()
REGISTRY.register(POOLS)


def watch_pool(name: str, engine: AsyncEngine) -> None:
    """Report this engine's pool as ``database=name`` for as long as the engine lives."""
    POOLS.add(name, engine)


class MetricsServer:
    """The metrics endpoint of one process: ``GET /metrics`` (any path answers the same) on its own port."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self.server = server
        self.thread = thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(port: int | None, host: str) -> MetricsServer | None:
    """Serve the registry on ``host:port`` in a thread of this process; None when ``port`` is unset."""
    if port is None:
        return None
    server, thread = start_http_server(port, addr=host)
    running = MetricsServer(server, thread)
    logger.info("metrics served", extra={"metricsPort": running.port, "metricsHost": host})
    return running
