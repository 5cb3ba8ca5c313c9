"""Metrics stay off the API (the gateway cannot route to them), the dashboard names only series that
exist, and tracing is switched by the standard OTEL_* variables (ADR 0029)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from gateway import routes
from gateway.config import GatewaySettings
from gateway.main import create_app
from lmx_common import metrics, telemetry
from lmx_common.tracing import child_of

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "lmx-dashboard.json"


def exported_names() -> set[str]:
    """Every series name the kit exports, with the suffixes Prometheus sees (_total, _bucket, ...)."""
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created")}
    names = set()
    for family in REGISTRY.collect():
        if family.name.startswith("lmx_"):
            names |= {family.name + s for s in suffixes.get(family.type, ("",))}
    return names


def test_the_gateway_has_no_route_to_metrics():
    table = routes.default_table()
    for service in routes.SERVICES:
        for path in ("/metrics", "/v1/metrics", "/metrics/", "/v1/metrics/"):
            for method in ("GET", "HEAD", "POST"):
                assert table.match(service, path, method) is None, (service, path, method)
    assert not [rule.path for rule in table.rules if "metrics" in rule.path]
    own = [getattr(route, "path", "") for route in create_app(GatewaySettings()).routes]
    assert own and not [path for path in own if "metrics" in path]


def test_metrics_are_served_only_when_a_port_is_set():
    assert GatewaySettings().metrics_port is None
    assert metrics.serve(None, "127.0.0.1") is None
    server = metrics.serve(0, "127.0.0.1")  # 0: any free port
    assert server is not None
    try:
        import httpx

        response = httpx.get(f"http://127.0.0.1:{server.port}/metrics")
        assert response.status_code == 200 and "lmx_http_requests_total" in response.text
    finally:
        server.close()


def _expressions(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        if isinstance(node.get("definition"), str):
            found.append(node["definition"])
        return found + [e for value in node.values() for e in _expressions(value)]
    if isinstance(node, list):
        return [e for value in node for e in _expressions(value)]
    return []


def test_the_dashboard_is_valid_and_names_only_series_that_exist():
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    expressions = _expressions(dashboard)
    used = {name for e in expressions for name in re.findall(r"\blmx_[a-z_]+", e)}
    assert used and used <= exported_names(), used - exported_names()
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in ("request rate", "errors", "latency", "upstream errors", "rate-limit", "outbox", "webhook", "job"):
        assert topic in titles, topic
    # Every series group of the kit is on the dashboard.
    for family in ("lmx_http_requests", "lmx_gateway_upstream_errors", "lmx_gateway_rate_limited",
                   "lmx_gateway_token_requests", "lmx_outbox_unsequenced_events", "lmx_webhook_deliveries",
                   "lmx_job_failures", "lmx_db_pool_checked_out_connections"):  # fmt: skip
        assert any(name.startswith(family) for name in used), family
    for panel in panels:
        assert panel["targets"] and all(t["expr"] for t in panel["targets"])


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, ["otlp", "console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, []),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, []),
    ],
)
def test_tracing_is_off_unless_the_environment_configures_an_exporter(env, expected):
    assert telemetry.exporter_names(env) == expected


def test_tracing_off_configures_nothing():
    assert telemetry.configure("registry", {}) is None
    assert telemetry.TRACER is None


def test_an_incoming_tracestate_is_kept_only_with_a_valid_traceparent():
    parent = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"
    assert child_of(parent, "vendor=1").tracestate == "vendor=1"
    assert child_of(parent, None).tracestate is None
    assert child_of(parent, "x=" + "y" * 600).tracestate is None  # over W3C's 512 characters
    assert child_of("garbage", "vendor=1").tracestate is None
