"""End to end through the gateway: a certifier revokes an admission; a subscribed municipality's
webhook receiver gets the signed event; the status lookup shows the change."""

from __future__ import annotations

from standardwebhooks import Webhook

from tests.support.certification import api, certifier, make_certificate
from tests.support.webhooks import eventually, receiver


async def test_a_revocation_reaches_the_municipality_signed_and_shows_in_the_lookup(stack, http):
    base = stack.gateway + "/certification"
    nau = await certifier(stack, http, base, fresh=True)
    breda = await api(
        stack,
        http,
        base,
        fresh=True,
        org_type="municipality",
        municipality_code="GM0758",
        scopes=("certification:read", "events:read"),
    )
    admission = await make_certificate(nau, "granted")
    before = (await breda.get(f"/v1/organisations/{admission['kvkNumber']}/status")).json()
    assert before["maySupplyLabour"] is True

    with receiver() as hooks:
        subscribed = await breda.post(
            "/v1/subscriptions", {"callbackUrl": hooks.url + "/lmx", "eventTypes": ["certificate.status-changed"]}
        )
        assert subscribed.status_code == 201, subscribed.text
        assert subscribed.headers["location"].startswith("/certification/v1/subscriptions/")
        secret = subscribed.json()["secret"]

        revoked = await nau.post(
            f"/v1/certificates/{admission['id']}/status-changes",
            {"status": "revoked", "reason": "Admission withdrawn after inspection."},
        )
        assert revoked.status_code == 201, revoked.text

        [delivery] = await eventually(lambda: hooks.matching(certificateId=admission["id"], status="revoked"))

    event = Webhook(secret).verify(delivery.body, delivery.headers)
    assert event["type"] == "certificate.status-changed" and event["id"] == delivery.headers["webhook-id"]
    assert {k: event["data"][k] for k in ("kvkNumber", "scheme", "previousStatus", "status")} == {
        "kvkNumber": admission["kvkNumber"],
        "scheme": "wtta-admission",
        "previousStatus": "granted",
        "status": "revoked",
    }
    assert "Admission withdrawn" not in delivery.body.decode()  # the reason stays in the history

    after = (await breda.get(f"/v1/organisations/{admission['kvkNumber']}/status")).json()
    assert after["maySupplyLabour"] is False
    [wtta] = [s for s in after["schemes"] if s["scheme"] == "wtta-admission"]
    assert wtta["status"] == "revoked" and wtta["validToday"] is False and wtta["since"] == after["date"]
    history = (await breda.get(f"/v1/certificates/{admission['id']}/status-changes")).json()["items"]
    assert history[-1]["reason"] == "Admission withdrawn after inspection."
