"""Traces: OpenTelemetry spans exported over OTLP, off unless configured (ADR 0029).

Switched on by the standard variables: ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``, or both,
comma-separated; ``none`` switches off) or, without it, an ``OTEL_EXPORTER_OTLP_ENDPOINT`` /
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``. ``OTEL_SDK_DISABLED=true`` switches everything off. The OTLP
exporter speaks HTTP/protobuf and reads its own variables (endpoint, headers, timeout, ...); the
batch processor reads ``OTEL_BSP_*`` and the sampler ``OTEL_TRACES_SAMPLER`` (default: parent-based,
always on). ``service.name`` is ``lmx-<component>`` unless ``OTEL_SERVICE_NAME`` says otherwise.

Switched off, nothing of the SDK runs: the request middleware mints its own ids (lmx_common/tracing.py)
and the trace still goes on to every call a request makes (traceparent and tracestate forwarded), so
the trace id and span id in the log lines join the components all the same. Switched on, the span
ids are the SDK's and the spans are exported:

- a SERVER span per incoming request (the middleware; named ``<METHOD> <route template>``),
- a CLIENT span per upstream call (the gateway's proxy; the housing service's calls through the
  gateway; webhook deliveries), whose context is what the callee receives as its parent,
- a span per database statement (opentelemetry-instrumentation-sqlalchemy on each engine),
- an INTERNAL span per run of a background job (lmx_common/jobs.py, the webhook worker): the root of
  the work it does.

No span carries personal data: attributes are methods, route templates, statuses, service names and
error classes; exception messages are never recorded (they can quote request data), nor are SQL
parameters (the SQLAlchemy instrumentation records the statement text with its placeholders).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from lmx_common.logging import span_id_var, trace_id_var
from lmx_common.tracing import TraceContext, child_of, trace_context_var
from lmx_common.version import API_VERSION

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger("lmx.telemetry")

_PROPAGATOR = TraceContextTextMapPropagator()
# The process's tracer once configure() found tracing switched on; None: off (one component per process).
TRACER: Tracer | None = None
_provider: TracerProvider | None = None
_instrumented: set[int] = set()


def exporter_names(env: Mapping[str, str] = os.environ) -> list[str]:
    """The span exporters the environment asks for; empty: tracing off."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    raw = env.get("OTEL_TRACES_EXPORTER", "").strip()
    if raw:
        return [name for name in (part.strip().lower() for part in raw.split(",")) if name and name != "none"]
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip():
        return ["otlp"]
    return []


def configure(component: str, env: Mapping[str, str] = os.environ) -> Tracer | None:
    """Set up the process's tracer when the environment switches tracing on (once per process)."""
    global TRACER, _provider
    if TRACER is not None:
        return TRACER
    names = exporter_names(env)
    if not names:
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    resource = Resource.create(
        {
            "service.name": env.get("OTEL_SERVICE_NAME", "").strip() or f"lmx-{component}",
            "service.namespace": "lmx",
            "service.version": API_VERSION,
        }
    )
    provider = TracerProvider(resource=resource)
    for name in names:
        exporter: SpanExporter
        if name == "otlp":
            protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            if protocol and protocol.strip() != "http/protobuf":
                logger.warning("OTLP protocol not supported; using http/protobuf", extra={"protocol": protocol})
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        elif name == "console":
            exporter = ConsoleSpanExporter()
        else:
            logger.warning("unknown span exporter ignored", extra={"exporter": name})
            continue
        provider.add_span_processor(BatchSpanProcessor(exporter))
    _provider = provider
    TRACER = provider.get_tracer("lmx." + component, API_VERSION)
    logger.info("tracing on", extra={"exporters": names})
    return TRACER


def flush() -> None:
    """Export what is buffered (a component's shutdown)."""
    if _provider is not None:
        _provider.force_flush(timeout_millis=5000)


def instrument_engine(engine: AsyncEngine) -> None:
    """A span per statement on this engine (no-op while tracing is off)."""
    if _provider is None or id(engine.sync_engine) in _instrumented:
        return
    from opentelemetry.instrumentation.sqlalchemy import engine as instrumentation
    from opentelemetry.metrics import NoOpUpDownCounter
    from sqlalchemy import event

    tracer = _provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
    sync = engine.sync_engine
    usage = NoOpUpDownCounter("db.client.connections.usage")  # the pool is in the Prometheus metrics
    instrumentation.EngineTracer(tracer, sync, usage, enable_commenter=False)  # type: ignore[no-untyped-call]
    # Its error handler writes the exception's message into the span (a constraint violation quotes
    # values): replaced by one that records the class only.
    event.remove(sync, "handle_error", instrumentation._handle_error)
    event.listen(sync, "handle_error", _statement_failed)
    _instrumented.add(id(sync))


def _statement_failed(context: Any) -> None:
    span = getattr(context.execution_context, "_otel_span", None)
    if span is None:
        return
    if span.is_recording():
        span.set_attribute("error.type", type(context.original_exception).__name__)
        span.set_status(Status(StatusCode.ERROR))
    span.end()


def _hex_ids(span: Span, parent_span_id: str | None) -> TraceContext:
    context = span.get_span_context()
    return TraceContext(
        otel_trace.format_trace_id(context.trace_id),
        otel_trace.format_span_id(context.span_id),
        f"{int(context.trace_flags):02x}",
        parent_span_id,
        context.trace_state.to_header() or None,
    )


def start_server_span(
    tracer: Tracer, method: str, traceparent: str | None, tracestate: str | None
) -> tuple[Span, TraceContext, object]:
    """A SERVER span in the caller's trace (a new trace without a valid traceparent), made current.

    Answers the span, its ids as a TraceContext, and the token :func:`end_server_span` needs."""
    carrier = {"traceparent": traceparent} if traceparent else {}
    if traceparent and tracestate:
        carrier["tracestate"] = tracestate
    parent = _PROPAGATOR.extract(carrier)
    parent_context = otel_trace.get_current_span(parent).get_span_context()
    span = tracer.start_span(method, context=parent, kind=SpanKind.SERVER, attributes={"http.request.method": method})
    parent_id = otel_trace.format_span_id(parent_context.span_id) if parent_context.is_valid else None
    token = otel_context.attach(otel_trace.set_span_in_context(span, parent))
    return span, _hex_ids(span, parent_id), token


def end_server_span(span: Span, token: object, method: str, route: str, status: int) -> None:
    span.update_name(f"{method} {route}")
    span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))
    span.end()
    otel_context.detach(token)  # type: ignore[arg-type]


@contextmanager
def client_call(name: str, attributes: dict[str, Any]) -> Iterator[tuple[dict[str, str], Span | None]]:
    """Around one outgoing HTTP call of a request or job: the headers that carry the trace to the
    callee (``traceparent``, ``tracestate``) and, with tracing on, the CLIENT span (else None).

    Off: the callee's parent is the current request's (or job run's) span. Outside any trace: no headers."""
    tracer = TRACER
    if tracer is None:
        current = trace_context_var.get()
        headers: dict[str, str] = {}
        if current is not None:
            headers["traceparent"] = current.traceparent
            if current.tracestate:
                headers["tracestate"] = current.tracestate
        yield headers, None
        return
    with tracer.start_as_current_span(
        name, kind=SpanKind.CLIENT, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as span:
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
        yield carrier, span


def call_outcome(span: Span | None, status: int | None = None, error: BaseException | None = None) -> None:
    """Record a client call's outcome on its span: the status answered, or the error's class (never its message)."""
    if span is None:
        return
    if status is not None:
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))
    if error is not None:
        span.set_attribute("error.type", type(error).__name__)
        span.set_status(Status(StatusCode.ERROR))


@contextmanager
def job_run(job: str) -> Iterator[Span | None]:
    """One run of a background job: a trace of its own (an INTERNAL root span with tracing on), whose
    ids are in the run's log lines and go on to the calls it makes."""
    tracer = TRACER
    if tracer is None:
        ids = child_of(None)
        tokens = (trace_context_var.set(ids), trace_id_var.set(ids.trace_id), span_id_var.set(ids.span_id))
        try:
            yield None
        finally:
            trace_context_var.reset(tokens[0])
            trace_id_var.reset(tokens[1])
            span_id_var.reset(tokens[2])
        return
    with tracer.start_as_current_span(
        f"job {job}",
        context=otel_context.Context(),  # a root: not a child of whatever span started the job's task
        kind=SpanKind.INTERNAL,
        attributes={"lmx.job": job},
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        ids = _hex_ids(span, None)
        tokens = (trace_context_var.set(ids), trace_id_var.set(ids.trace_id), span_id_var.set(ids.span_id))
        try:
            yield span
        finally:
            trace_context_var.reset(tokens[0])
            trace_id_var.reset(tokens[1])
            span_id_var.reset(tokens[2])
