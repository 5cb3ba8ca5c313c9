"""Requests are counted by route template (never by path), method and status, with their latency;
a made-up method makes no new series (the registry, in-process, on both databases)."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY


def _requests(**labels: str) -> float:
    return REGISTRY.get_sample_value("lmx_http_requests_total", labels) or 0.0


def _latency_count(**labels: str) -> float:
    return REGISTRY.get_sample_value("lmx_http_request_duration_seconds_count", labels) or 0.0


async def _eventually(check) -> None:  # the middleware counts just after the answer is sent
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not counted")


async def test_requests_are_counted_by_route_template_method_and_status(stack, http):
    headers = {"Authorization": f"Bearer {await stack.client_token(http)}"}
    one = {"component": "registry", "method": "GET", "route": "/v1/municipalities/{code}"}
    found, missing = _requests(**one, status="200"), _requests(**one, status="404")
    timed = _latency_count(**one)

    assert (await http.get(stack.registry + "/v1/municipalities/GM1655", headers=headers)).status_code == 200
    assert (await http.get(stack.registry + "/v1/municipalities/GM9999", headers=headers)).status_code == 404
    await _eventually(lambda: _latency_count(**one) == timed + 2)
    assert _requests(**one, status="200") == found + 1
    assert _requests(**one, status="404") == missing + 1

    # A path no route has, and a method no client should send: no path, no made-up method in a label.
    brewed = await http.request("BREW", stack.registry + "/v1/teapots/GM7777", headers=headers)
    assert brewed.status_code in (404, 405)
    unmatched = {"component": "registry", "method": "other", "route": "<unmatched>", "status": str(brewed.status_code)}
    await _eventually(lambda: _requests(**unmatched) >= 1)
    labels = [value for family in REGISTRY.collect() for sample in family.samples for value in sample.labels.values()]
    assert not [value for value in labels if "GM1655" in value or "GM7777" in value or "BREW" in value]
