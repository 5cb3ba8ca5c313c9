"""Logboek Dataverwerkingen through the gateway: the caller's traceparent becomes the records' trace id
and foreign operation; the export and the checkpoints (ADR 0023)."""

from __future__ import annotations

import secrets
import time
from datetime import datetime

from services.registry import audit
from tests.conftest import assert_problem
from tests.support.registrations import make_registration

BOTH = ("registry:read", "registry:write")


async def test_a_callers_traceparent_is_in_the_export(stack, http):
    api = stack.gateway + "/registry/v1"
    token = await stack.client_token(http, scopes=BOTH, municipality_code="GM0840")
    municipality = {"Authorization": f"Bearer {token}"}
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    traced = municipality | {"traceparent": f"00-{trace_id}-{caller_span}-01", "x-lmx-caller-span-id": "f" * 16}
    body = make_registration(**{"residence.municipalityCode": "GM0840"})
    before = int(time.time() * 1000)
    created = await http.post(api + "/registrations", json=body, headers=traced)
    assert created.status_code == 201, created.text
    registration_id = created.json()["id"]
    registry_span = created.headers["traceparent"].split("-")[2]  # the answer names the registry's span
    await http.get(api + f"/registrations/{registration_id}", headers=municipality)  # no traceparent

    auditor = await stack.client_token(http, org_type="national", scopes=("audit:read",))
    answer = await http.get(
        api + f"/processing-log/export?registrationId={registration_id}",
        headers={"Authorization": f"Bearer {auditor}"},
    )
    assert answer.status_code == 200, answer.text
    # Reading the log is itself logged (log-read), before the page is read: it is the last record.
    *processing, reading = answer.json()["items"]
    assert reading["name"] == "registry.log-read"
    assert reading["attributes"]["dpl.core.processing_activity_id"] == "urn:lmx:processing-activity:lmx-accountability"
    first, second = processing
    assert first["trace_id"] == trace_id
    assert first["span_id"] == registry_span
    # The registry's span is the gateway's child: its parent is neither the registry's nor the caller's.
    assert len(first["parent_span_id"]) == 16 and first["parent_span_id"] not in (registry_span, caller_span)
    # The caller's own span, not the value a client tried to set itself (x-lmx-* is dropped).
    assert first["foreign_operation"]["trace_id"] == trace_id
    assert first["foreign_operation"]["span_id"] == caller_span
    assert first["foreign_operation"]["entity"].startswith("urn:oin:")
    assert first["name"] == "registry.create" and first["status_code"] == "STATUS_CODE_OK"
    assert before - 1000 <= first["start_time"] <= first["end_time"] <= int(time.time() * 1000) + 1000
    assert first["attributes"]["dpl.core.data_subject_id"] == registration_id
    assert first["attributes"]["dpl.core.processing_activity_id"] == "urn:lmx:processing-activity:lmx-registration"
    assert first["attributes"]["dpl.core.data_subject_id_type"] == "urn:lmx:registration-id"
    assert first["resource"]["attributes"]["service.name"] == "lmx-registry"
    # Without a traceparent there is no foreign operation; the trace is the gateway's new one.
    assert second["name"] == "registry.read" and second["foreign_operation"] is None
    assert second["trace_id"] != trace_id and second["parent_span_id"]

    # The municipality concerned may export too; others see nothing.
    own = await http.get(api + f"/processing-log/export?registrationId={registration_id}", headers=municipality)
    assert own.status_code == 200
    names = [item["name"] for item in own.json()["items"]]
    assert names[:2] == ["registry.create", "registry.read"] and set(names[2:]) == {"registry.log-read"}
    other = await stack.client_token(http, scopes=BOTH, municipality_code="GM0363")
    hidden = await http.get(
        api + f"/processing-log/export?registrationId={registration_id}", headers={"Authorization": f"Bearer {other}"}
    )
    assert_problem(hidden, 404)


async def test_checkpoints_are_published_and_verify(stack, http):
    api = stack.gateway + "/registry/v1"
    token = await stack.client_token(http, scopes=BOTH, municipality_code="GM0840")
    body = make_registration(**{"residence.municipalityCode": "GM0840"})
    await http.post(api + "/registrations", json=body, headers={"Authorization": f"Bearer {token}"})

    jwks = await http.get(api + "/processing-log/checkpoints/public-key", headers={"Authorization": f"Bearer {token}"})
    assert jwks.status_code == 200, jwks.text
    key = audit.AuditKey.from_public(jwks.text)
    assert (
        await http.get(api + "/processing-log/checkpoints", headers={"Authorization": f"Bearer {token}"})
    ).status_code == 403
    auditor = await stack.client_token(http, org_type="national", scopes=("audit:read",))
    answer = await http.get(
        api + "/processing-log/checkpoints?pageSize=500", headers={"Authorization": f"Bearer {auditor}"}
    )
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert items, "the endpoint seals first, and the first checkpoint is due at once"
    for item in items:
        assert item["keyId"] == key.key_id
        signed_at = datetime.fromisoformat(item["signedAt"])
        assert key.verifies(audit.checkpoint_message(item["count"], item["headHash"], signed_at), item["signature"])
