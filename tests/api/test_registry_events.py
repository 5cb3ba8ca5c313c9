"""The registry's events: registration.created and registration.departed, municipality codes only."""

from __future__ import annotations

import json
from datetime import date

from tests.support.registrations import make_registration


async def read_feed(stack, http, headers) -> list[dict]:
    """The whole feed as this reader receives it: until `next` stops moving (a page filtered by the
    events' audience may be empty before the end, docs/decisions/0028)."""
    events: list[dict] = []
    url, cursor = stack.gateway + "/registry/v1/events?limit=500", None
    while True:
        page = (await http.get(url, headers=headers)).json()
        events += page["items"]
        if page["next"] == cursor:
            return events
        cursor = page["next"]
        url = stack.gateway + page["_links"]["next"]["href"]


async def test_created_and_departed_events_carry_codes_and_nothing_personal(stack, http):
    writer = await stack.client_token(http, scopes=("registry:read", "registry:write"), municipality_code="GM1719")
    # The residence municipality: entitled to these registrations' events (test_registry_event_audience.py).
    reader = await stack.client_token(http, scopes=("events:read",), municipality_code="GM1719")
    headers = {"Authorization": f"Bearer {writer}"}
    api = stack.gateway + "/registry/v1"
    before = len(await read_feed(stack, http, {"Authorization": f"Bearer {reader}"}))

    body = make_registration(
        **{"residence.municipalityCode": "GM1719", "work.municipalityCode": "GM1709", "person.surname": "Qwertyuiop"}
    )
    created = (await http.post(api + "/registrations", json=body, headers=headers)).json()
    await http.post(
        api + f"/registrations/{created['id']}/departure",
        headers=headers,
        json={"date": date.today().isoformat(), "reason": "job-lost", "destination": {"type": "unknown"}},
    )
    bulk = [make_registration(**{"residence.municipalityCode": "GM1719"}) for _ in range(3)]
    await http.post(
        api + "/registrations/bulk",
        content="\n".join(json.dumps(b) for b in bulk),
        headers=headers | {"Content-Type": "application/x-ndjson"},
    )
    await http.post(
        api + "/registrations", json=make_registration(**{"person.bsn": "123456789"}), headers=headers
    )  # refused: no event

    events = (await read_feed(stack, http, {"Authorization": f"Bearer {reader}"}))[before:]
    ours = [e for e in events if e["data"].get("residenceMunicipalityCode") == "GM1719"]
    assert [e["type"] for e in ours] == ["registration.created", "registration.departed"] + ["registration.created"] * 3
    assert ours[0]["data"] == {"workMunicipalityCode": "GM1709", "residenceMunicipalityCode": "GM1719"}
    assert ours[0]["source"] == "urn:lmx:registry" and ours[0]["specversion"] == "1.0"
    assert len({e["id"] for e in ours}) == 5
    text = json.dumps(events)
    for secret in (body["person"]["bsn"], "Qwertyuiop", created["id"], *(b["person"]["bsn"] for b in bulk)):
        assert secret not in text

    no_scope = await http.get(api + "/events", headers=headers)
    assert no_scope.status_code == 403
