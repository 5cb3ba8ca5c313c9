"""The soak driver (bench/soak.py, `make soak`) for a few seconds against the test stack, so it cannot rot.

The real soak starts `lmx up` on fresh PostgreSQL databases and runs for ten minutes (docs/performance.md);
here the same load, subscription, receiver, backlog query, memory sampler and report run against the
session's stack on PostgreSQL. Its registry allows no local webhook receiver, so the receiver subscribes
at the certification service only (report events).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from lmx_cli.demo import DEMO_CLIENTS

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.postgres


def load_soak() -> Any:
    spec = importlib.util.spec_from_file_location("soak_driver", ROOT / "bench" / "soak.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["soak_driver"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


async def test_soak_driver_runs_the_mix_without_errors_and_drains_the_backlog(stack):
    soak = load_soak()
    demo = {client.client_id: client for client in DEMO_CLIENTS}
    clients = {}
    for role in soak.ROLES:  # the demo clients' parties, registered afresh at the test gateway
        client = demo[role]
        client_id, secret = await stack.register_client(
            org_type=client.organisation_type,
            scopes=tuple(client.scopes),
            municipality_code=client.municipality_code,
            province_code=client.province_code,
        )
        clients[role] = (client_id, secret)

    mix = dict.fromkeys(soak.MIX, 1)  # every operation, equally often: each must run
    with soak.webhook_receiver() as hooks, soak.MemorySampler({"test": os.getpid()}, 0.5) as memory:
        result = await soak.soak(
            stack.gateway,
            clients,
            hooks,
            stack.database_urls,
            seconds=6,
            rate=15,
            workers=4,
            drain_seconds=15,
            subscriptions=(("certification", ("report.created",)),),
            mix=mix,
        )

    assert result["errors"] == 0, result["error_samples"]
    assert set(result["operations"]) == set(soak.MIX)
    for op, figures in result["operations"].items():
        assert figures["count"] > 0 and figures["errors"] == 0, op
        assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"] <= figures["max_ms"], op
    assert result["operations_total"] == sum(f["count"] for f in result["operations"].values())
    assert result["registrations"]["created"] > 0 and result["registrations"]["departed"] >= 0
    assert result["registrations"]["bulk_created"] % soak.BULK_LINES == 0
    # Every report became an event, was sequenced and delivered to the receiver: nothing left behind.
    assert result["reports"] > 0
    assert result["webhooks"]["distinct_events"] >= result["reports"]
    assert soak.backlog_total(result["backlog_at_end"]) == 0, result["backlog_at_end"]
    assert result["backlog_at_end"]["certification"]["dead_lettered"] == 0
    assert result["backlog_at_end"]["certification"]["delivered"] >= result["reports"]

    report = soak.finish(result, memory.summary(warmup=1), 1, started="now", machine="test")
    assert report["goals"]["errors"] and report["goals"]["backlog"]
    assert report["rss"]["test"]["peak_mb"] > 0 and len(report["rss"]["test"]["samples"]) >= 5
    text = soak.markdown(report)
    assert "errors: **0** (goal 0)" in text
    assert "| report |" in text and "| token |" in text


def test_soak_is_not_part_of_make_test_but_has_its_own_target():
    makefile = (ROOT / "Makefile").read_text()
    assert "\nsoak:" in makefile and "bench/soak.py" in makefile
    test_recipe = makefile.split("\ntest:")[1].split("\n\n")[0]
    assert "soak" not in test_recipe
