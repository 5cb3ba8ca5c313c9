"""End to end over the real processes (`lmx up`): every component's Prometheus metrics after real
traffic, read from their own ports; and one trace from the caller through the gateway, the housing
service and the registry (and, for the same caller's next call, the certification service), exported
over OTLP/HTTP to a real receiver and visible, with its span ids, in the log lines of all four."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_lmx_up import (
    COMPONENTS,
    LMX,
    environment,  # noqa: F401 - the fixture: SQLite and PostgreSQL
)
from tests.support.servers import free_port
from tests.support.webhooks import receiver

SERVER, CLIENT = 2, 3  # OTLP SpanKind values


class Spans:
    """A tiny OTLP/HTTP (protobuf) trace receiver: keeps every span with its service's name."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, Any]] = []
        self.lock = threading.Lock()

    def add(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        with self.lock:
            for resource_spans in request.resource_spans:
                service = next(
                    a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"
                )
                for scope_spans in resource_spans.scope_spans:
                    self.spans.extend((service, span) for span in scope_spans.spans)

    def in_trace(self, trace_id: str) -> list[tuple[str, Any]]:
        with self.lock:
            return [(service, span) for service, span in self.spans if span.trace_id.hex() == trace_id]


@contextmanager
def otlp_receiver() -> Iterator[tuple[str, Spans]]:
    spans = Spans()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if self.path == "/v1/traces" and self.headers.get("content-type") == "application/x-protobuf":
                spans.add(body)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
            else:
                answer = b""
                self.send_response(404)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", spans
    finally:
        server.shutdown()
        server.server_close()


def _metrics(port: int) -> list[tuple[str, dict[str, str], float]]:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]


def _value(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``; -1 when there is none."""
    found = [v for n, lbl, v in samples if n == name and all(lbl.get(k) == w for k, w in labels.items())]
    return sum(found) if found else -1.0


def _eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.25)


def test_metrics_and_one_trace_over_the_real_processes(tmp_path, environment):  # noqa: F811
    ports = {name: free_port() for name in COMPONENTS}
    metrics_ports = {name: free_port() for name in COMPONENTS}
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    log_file = tmp_path / "stack.log"
    with otlp_receiver() as (otlp_url, spans), receiver() as hooks, log_file.open("w") as log:
        env = dict(environment)
        env |= {f"{name.upper()}_METRICS_PORT": str(port) for name, port in metrics_ports.items()}
        env |= {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_url,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "GATEWAY_READ_TIMEOUT": "1.5",  # a stopped service times out quickly
            "GATEWAY_ANONYMOUS_RATE_LIMIT": "15/minute",  # per address: refusals after a few public calls
            "CERTIFICATION_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
            "CERTIFICATION_EVENT_POLL_SECONDS": "0.2",
        }
        args = [LMX, "up"] + [f"--{name}-port={port}" for name, port in ports.items()]
        process = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        stopped: int | None = None
        try:
            _wait_for_banner(process)
            credentials = json.loads((tmp_path / "var" / "demo-clients.json").read_text())
            with httpx.Client(base_url=gateway, timeout=20) as http:

                def token(client: str) -> dict[str, str]:
                    response = http.post(
                        "/oauth/token",
                        data={"grant_type": "client_credentials"},
                        auth=(client, credentials[client]["clientSecret"]),
                    )
                    assert response.status_code == 200, response.text
                    return {"Authorization": f"Bearer {response.json()['access_token']}"}

                halderberge, nau = token("halderberge"), token("nau-certifier")
                refused = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("nobody", "x"))
                assert refused.status_code == 401

                # The caller's own trace: one fair-share request, then a call to the certification service.
                trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
                traced = {"traceparent": f"00-{trace_id}-{caller_span}-01", "tracestate": "caller=fair-share"}
                fair_share = http.get("/housing/v1/fair-share?regionCode=west-brabant", headers=halderberge | traced)
                assert fair_share.status_code == 200, fair_share.text
                assert fair_share.headers["traceparent"].split("-")[1] == trace_id
                schemes = http.get("/certification/v1/schemes", headers=halderberge | traced)
                assert schemes.status_code == 200, schemes.text

                # Traffic for the other series: an id in a path, a webhook delivered, rate-limit refusals,
                # a service that does not answer in time.
                unknown_id = "c0ffee" + secrets.token_hex(10)
                missing = http.get(f"/certification/v1/reports/{unknown_id}", headers=nau)
                assert missing.status_code == 404, missing.text
                subscription = http.post(
                    "/certification/v1/subscriptions",
                    json={"callbackUrl": hooks.url + "/hook", "eventTypes": ["certificate.status-changed"]},
                    headers=nau,
                )
                assert subscription.status_code == 201, subscription.text
                kvk = _kvk()
                organisation = {"kvkNumber": kvk, "name": "Test Wonen B.V.", "kinds": ["landlord"]}
                assert http.post("/certification/v1/organisations", json=organisation, headers=nau).status_code == 201
                made = http.post(
                    "/certification/v1/certificates",
                    json={"kvkNumber": kvk, "scheme": "snf-housing", "validFrom": "2026-01-01"},
                    headers=nau,
                )
                assert made.status_code == 201, made.text
                granted = http.post(
                    f"/certification/v1/certificates/{made.json()['id']}/status-changes",
                    json={"status": "granted", "reason": "audit passed"},
                    headers=nau,
                )
                assert granted.status_code == 201, granted.text
                assert _eventually(lambda: hooks.unique), "no webhook was delivered"
                statuses = [http.get("/registry/v1/openapi.json").status_code for _ in range(20)]
                assert 429 in statuses and 200 in statuses
                stopped = _pid_of(ports["certification"], "services.certification.main:create_app")
                os.kill(stopped, signal.SIGSTOP)
                late = http.get("/certification/v1/schemes", headers=halderberge)
                assert late.status_code == 504, late.text
                os.kill(stopped, signal.SIGCONT)
                stopped = None

                # The metrics are on their own ports, never through the gateway or an API port.
                assert http.get("/metrics").status_code == 404
                for service in ("registry", "certification", "housing"):
                    assert http.get(f"/{service}/metrics", headers=halderberge).status_code == 404
                    assert http.get(f"/{service}/v1/metrics", headers=halderberge).status_code == 404
                    assert httpx.get(f"http://127.0.0.1:{ports[service]}/metrics").status_code in (401, 404)
            _check_metrics(metrics_ports, unknown_id)
            _check_trace(spans, trace_id, caller_span)
        finally:
            if stopped is not None:
                os.kill(stopped, signal.SIGCONT)
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=30)
    assert code == 0
    _check_logs(log_file, trace_id, spans)


def _check_metrics(ports: dict[str, int], unknown_id: str) -> None:
    gateway = _metrics(ports["gateway"])
    fair_share = {"component": "gateway", "method": "GET", "route": "/housing/v1/fair-share"}
    assert _value(gateway, "lmx_http_requests_total", **fair_share, status="200") >= 1
    assert _value(gateway, "lmx_http_request_duration_seconds_count", **fair_share) >= 1
    assert _value(gateway, "lmx_http_request_duration_seconds_sum", **fair_share) > 0
    # The route template, never the path with its id.
    report = {"component": "gateway", "route": "/certification/v1/reports/{reportId}"}
    assert _value(gateway, "lmx_http_requests_total", **report, status="404") >= 1
    assert _value(gateway, "lmx_http_requests_total", component="gateway", route="/oauth/token", status="200") >= 2
    assert _value(gateway, "lmx_gateway_upstream_request_duration_seconds_count", service="housing") >= 1
    assert _value(gateway, "lmx_gateway_upstream_errors_total", service="certification", kind="timeout") >= 1
    assert _value(gateway, "lmx_gateway_rate_limited_total", kind="anonymous") >= 1
    assert _value(gateway, "lmx_gateway_token_requests_total", outcome="issued") >= 2
    assert _value(gateway, "lmx_gateway_token_requests_total", outcome="invalid_client") >= 1
    assert _value(gateway, "lmx_db_pool_size", database="gateway") > 0
    assert _value(gateway, "lmx_db_pool_checked_out_connections", database="gateway") >= 0

    registry = _metrics(ports["registry"])
    statistics = [
        labels
        for name, labels, value in registry
        if name == "lmx_http_requests_total" and labels["route"].startswith("/v1/statistics") and value > 0
    ]
    assert statistics and all(labels["component"] == "registry" for labels in statistics)
    assert _value(registry, "lmx_outbox_unsequenced_events", source="urn:lmx:registry") >= 0
    assert _value(registry, "lmx_job_runs_total", job="registry-retention") >= 1
    assert _value(registry, "lmx_job_last_success_timestamp_seconds", job="registry-retention") > 0
    assert _value(registry, "lmx_job_runs_total", job="webhook-delivery") >= 1
    assert _value(registry, "lmx_db_pool_size", database="registry") > 0

    certification = _metrics(ports["certification"])
    made = {"component": "certification", "method": "POST", "route": "/v1/certificates", "status": "201"}
    assert _value(certification, "lmx_http_requests_total", **made) == 1
    source = "urn:lmx:certification"
    assert _value(certification, "lmx_webhook_delivery_attempts_total", source=source, outcome="delivered") >= 1
    assert _value(certification, "lmx_outbox_unsequenced_events", source=source) >= 0
    assert _value(certification, "lmx_outbox_oldest_unsequenced_age_seconds", source=source) >= 0
    assert _value(certification, "lmx_webhook_deliveries", source=source, state="pending") >= 0
    assert _value(certification, "lmx_webhook_deliveries", source=source, state="dead-lettered") >= 0
    assert _value(certification, "lmx_job_runs_total", job="certificate-expiry") >= 1
    assert _value(certification, "lmx_job_failures_total", job="certificate-expiry") == 0

    housing = _metrics(ports["housing"])
    assert _value(housing, "lmx_http_requests_total", component="housing", route="/v1/fair-share", status="200") == 1
    assert _value(housing, "lmx_job_runs_total", job="certification-feed") >= 1
    assert _value(housing, "lmx_job_last_success_timestamp_seconds", job="certification-feed") > 0
    assert _value(housing, "lmx_db_pool_size", database="housing") > 0

    for samples in (gateway, registry, certification, housing):
        assert not any(unknown_id in value for _, labels, _ in samples for value in labels.values())


def _check_trace(spans: Spans, trace_id: str, caller_span: str) -> None:
    def complete() -> bool:
        services = {service for service, span in spans.in_trace(trace_id) if span.kind == SERVER}
        return services >= {"lmx-gateway", "lmx-housing", "lmx-registry", "lmx-certification"}

    assert _eventually(complete), sorted({s for s, _ in spans.in_trace(trace_id)})
    trace = spans.in_trace(trace_id)
    by_id = {span.span_id.hex(): (service, span) for service, span in trace}
    # The gateway's span for the caller's request is a child of the caller's own span.
    entry = next(s for svc, s in trace if svc == "lmx-gateway" and s.name == "GET /housing/v1/fair-share")
    assert entry.parent_span_id.hex() == caller_span and entry.kind == SERVER
    # housing's request: a child of the gateway's call to it; registry's: of the gateway's call made
    # for housing's call, itself a child of housing's request.
    housing = next(s for svc, s in trace if svc == "lmx-housing" and s.name == "GET /v1/fair-share")
    to_housing = by_id[housing.parent_span_id.hex()]
    assert to_housing[0] == "lmx-gateway" and to_housing[1].kind == CLIENT
    assert to_housing[1].parent_span_id == entry.span_id
    registry = next(s for svc, s in trace if svc == "lmx-registry" and s.kind == SERVER)
    assert registry.name.startswith("GET /v1/statistics")
    chain = []
    span = registry
    while span.parent_span_id.hex() in by_id:
        service, span = by_id[span.parent_span_id.hex()]
        chain.append((service, span.kind))
    assert chain[:4] == [
        ("lmx-gateway", CLIENT),
        ("lmx-gateway", SERVER),
        ("lmx-housing", CLIENT),
        ("lmx-housing", SERVER),
    ]
    # The caller's tracestate reached the registry; database work is in the trace.
    assert registry.trace_state == "caller=fair-share"
    statements = [s for svc, s in trace if svc == "lmx-registry" and any(a.key == "db.system" for a in s.attributes)]
    assert statements
    assert all(s.status.code != 2 for s in statements)
    # Webhook deliveries are spans of the certification service's delivery rounds.
    assert any(svc == "lmx-certification" and s.name == "POST webhook" for svc, s in spans.spans)


def _check_logs(log_file: Path, trace_id: str, spans: Spans) -> None:
    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.startswith("{")]
    in_trace = [line for line in lines if line.get("traceId") == trace_id]
    assert {line["component"] for line in in_trace} == {"gateway", "housing", "registry", "certification"}
    server_spans = {span.span_id.hex() for _, span in spans.in_trace(trace_id) if span.kind == SERVER}
    access = [line for line in in_trace if line["event"] == "request"]
    assert access and all(line["spanId"] in server_spans for line in access)


def _wait_for_banner(process: subprocess.Popen[str], timeout: float = 90) -> None:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    output: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)

    threading.Thread(target=read, daemon=True).start()
    while time.monotonic() < deadline:
        if "curl -s -H" in "".join(output):
            return
        if process.poll() is not None:
            raise AssertionError(f"lmx up exited with {process.returncode}:\n{''.join(output)}")
        time.sleep(0.2)
    raise AssertionError(f"no banner within {timeout} s:\n{''.join(output)}")


def _pid_of(port: int, target: str) -> int:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if target.encode() in argv and str(port).encode() in argv:
            return int(entry.name)
    raise AssertionError(f"no process for {target} on port {port}")


def _kvk() -> str:
    from tests.support.housing import kvk

    return kvk()
