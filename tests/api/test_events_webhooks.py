"""Webhook subscriptions: ownership, Standard Webhooks signatures, retries with backoff, dead letters, replay."""

from __future__ import annotations

import itertools

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.conftest import assert_problem
from tests.support.certification import Api, api, kvk
from tests.support.stack import FAST_EVENTS
from tests.support.webhooks import eventually, receiver

EVENT_SCOPES = ("events:read", "certification:read", "reports:write")


async def _subscriber(stack, http, fresh: bool = True) -> Api:
    return await api(stack, http, fresh=fresh, org_type="municipality", scopes=EVENT_SCOPES)


async def _subscribe(client: Api, url: str, types: list[str] | None = None) -> dict:
    response = await client.post(
        "/v1/subscriptions", {"callbackUrl": url + "/hook", "eventTypes": types or ["report.created"]}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _report(client: Api) -> str:
    response = await client.post(
        "/v1/reports",
        {
            "kvkNumber": kvk(),
            "municipalityCode": "GM1655",
            "category": "underpayment",
            "description": "Paid below minimum wage.",
            "observedOn": "2026-11-03",
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_subscriptions_belong_to_their_client(stack, http):
    owner = await _subscriber(stack, http)
    other = await _subscriber(stack, http)
    # 127.0.0.1 is on the stack's allow-list; a public name would need DNS (test_events_webhook_ssrf.py).
    created = await _subscribe(owner, "http://127.0.0.1:9", ["report.created", "certificate.status-changed"])
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["eventTypes"] == ["certificate.status-changed", "report.created"]
    assert created["deliveryState"]["pending"] == 0
    one = await owner.get(f"/v1/subscriptions/{created['id']}")
    assert one.status_code == 200 and "secret" not in one.json()
    assert [s["id"] for s in (await owner.get("/v1/subscriptions")).json()["items"]] == [created["id"]]
    assert (await other.get("/v1/subscriptions")).json()["items"] == []
    for response in (
        await other.get(f"/v1/subscriptions/{created['id']}"),
        await other.delete(f"/v1/subscriptions/{created['id']}"),
        await other.post(f"/v1/subscriptions/{created['id']}/replays", {}),
        await other.get(f"/v1/subscriptions/{created['id']}/deliveries"),
    ):
        assert_problem(response, 404, "not-found")
    assert (await owner.delete(f"/v1/subscriptions/{created['id']}")).status_code == 204
    assert_problem(await owner.get(f"/v1/subscriptions/{created['id']}"), 404)


async def test_an_invalid_subscription_lists_every_problem(stack, http):
    owner = await _subscriber(stack, http, fresh=False)
    response = await owner.post("/v1/subscriptions", {"callbackUrl": "ftp://x", "eventTypes": ["registration.nope"]})
    body = assert_problem(response, 400, "invalid-input")
    assert {p["name"] for p in body["invalidParams"]} == {"callbackUrl", "eventTypes"}
    response = await owner.post("/v1/subscriptions", {})
    assert {p["name"] for p in assert_problem(response, 400)["invalidParams"]} == {"callbackUrl", "eventTypes"}


async def test_webhooks_are_signed_and_verifiable_with_the_subscribers_secret(stack, http):
    client = await _subscriber(stack, http)
    with receiver() as hooks:
        subscription = await _subscribe(client, hooks.url)
        report_id = await _report(client)
        [delivery] = await eventually(lambda: hooks.matching(reportId=report_id))
    headers = delivery.headers
    assert headers["content-type"] == "application/cloudevents+json"
    assert headers["webhook-id"] == delivery.event["id"]
    payload = Webhook(subscription["secret"]).verify(delivery.body, headers)
    assert payload["type"] == "report.created" and payload["data"]["reportId"] == report_id
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(delivery.body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(subscription["secret"]).verify(delivery.body.replace(b"underpayment", b"overcrowding"), headers)
    state = (await client.get(f"/v1/subscriptions/{subscription['id']}")).json()["deliveryState"]
    assert state["delivered"] == 1 and state["pending"] == 0 and state["deadLettered"] == 0


async def test_failures_are_retried_with_backoff_dead_lettered_and_replayable(stack, http):
    client = await _subscriber(stack, http)
    attempts = FAST_EVENTS["webhook_max_attempts"]
    with receiver(status=503) as hooks:
        subscription = await _subscribe(client, hooks.url)
        path = f"/v1/subscriptions/{subscription['id']}"
        report_id = await _report(client)

        async def dead() -> dict | None:
            state = (await client.get(path)).json()["deliveryState"]
            return state if state["deadLettered"] == 1 else None

        state = await eventually(dead, timeout=15)
        tries = [r for r in hooks.requests if r.event["data"]["reportId"] == report_id]
        assert len(tries) == attempts, "one request per attempt, then no more"
        assert len({r.headers["webhook-id"] for r in tries}) == 1  # the same id on every retry
        gaps = [b.at - a.at for a, b in itertools.pairwise(tries)]
        base = FAST_EVENTS["webhook_backoff_seconds"]
        for n, gap in enumerate(gaps, start=1):  # base * 2^(n-1), capped
            assert gap >= min(base * 2 ** (n - 1), FAST_EVENTS["webhook_backoff_max_seconds"]) * 0.9, gaps
        assert state["failedAttempts"] == attempts and state["pending"] == 0
        assert state["lastError"] == "delivery failed: http-503"  # a class, not what answered
        [dead_letter] = (await client.get(f"{path}/deliveries?status=dead-lettered")).json()["items"]
        assert dead_letter["attempts"] == attempts and dead_letter["lastStatusCode"] == 503
        assert dead_letter["nextAttemptAt"] is None

        hooks.status = 200
        replay = await client.post(f"{path}/replays", {})
        assert replay.status_code == 202 and replay.json() == {"replayed": 1}
        await eventually(lambda: hooks.matching(reportId=report_id))
        delivered = await eventually(
            lambda: _items(client, f"{path}/deliveries?status=delivered"),
        )
        assert delivered[0]["eventId"] == dead_letter["eventId"] and delivered[0]["deliveredAt"]
        Webhook(subscription["secret"]).verify(
            hooks.matching(reportId=report_id)[0].body, hooks.matching(reportId=report_id)[0].headers
        )
        again = await client.post(f"{path}/replays", {})
        assert again.json() == {"replayed": 0}  # nothing dead-lettered is left


async def _items(client: Api, path: str) -> list[dict]:
    items: list[dict] = (await client.get(path)).json()["items"]
    return items


async def test_only_subscribed_types_are_delivered(stack, http):
    client = await _subscriber(stack, http)
    with receiver() as hooks:
        await _subscribe(client, hooks.url, ["certificate.status-changed"])
        report_id = await _report(client)
        probe = await _subscriber(stack, http)
        with receiver() as control:
            await _subscribe(probe, control.url)
            second = await _report(client)
            await eventually(lambda: control.matching(reportId=second))
        assert not hooks.matching(reportId=report_id) and not hooks.matching(reportId=second)
