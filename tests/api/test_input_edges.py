"""Issue 14, input edges at the services: non-ASCII digits, lax types, wrong content types,
forged cursors, implausible report dates, weak and `*` If-Match, long client-assertion jtis."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from tests.conftest import assert_problem
from tests.support.certification import certifier
from tests.support.housing import make_location
from tests.support.registrations import make_registration
from tests.support.tokens import client_assertion, new_rsa_key

ARABIC = "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668"
FULLWIDTH = "".join(chr(0xFF11 + i % 9) for i in range(8))
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def forged_cursor(position: Mapping[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


async def test_other_scripts_digits_are_400_at_every_entry_point(stack, http):
    cert = await certifier(stack, http)
    housing = {"Authorization": f"Bearer {await stack.client_token(http, scopes=('housing:read', 'housing:write'))}"}
    registry = {"Authorization": "Bearer " + await stack.client_token(http, scopes=("registry:read", "registry:write"))}
    for digits in (ARABIC, FULLWIDTH):
        created = await cert.post("/v1/organisations", {"kvkNumber": digits, "name": "X B.V.", "kinds": ["employer"]})
        assert assert_problem(created, 400, "invalid-input")["invalidParams"][0]["name"] == "kvkNumber"
        assert_problem(await cert.get(f"/v1/organisations/{digits}"), 400, "invalid-input")
        assert_problem(await cert.get(f"/v1/reports?kvkNumber={digits}"), 400, "invalid-input")
        report = {
            "kvkNumber": digits,
            "municipalityCode": "GM1655",
            "category": "other",
            "description": "x",
            "observedOn": "2026-01-01",
        }
        reporter = {"Authorization": "Bearer " + await stack.client_token(http, scopes=("reports:write",))}
        reported = await http.post(stack.certification + "/v1/reports", json=report, headers=reporter)
        assert_problem(reported, 400, "invalid-input")
        location = make_location(landlordKvkNumber=digits)
        assert_problem(await http.post(stack.housing + "/v1/housing-locations", json=location, headers=housing), 400)
        code = "GM" + digits[:4]
        assert_problem(
            await http.get(f"{stack.housing}/v1/housing-locations?municipalityCode={code}", headers=housing), 400
        )
        for change in (
            {"work.employerKvkNumber": digits},
            {"person.bsn": digits + digits[0]},
            {"residence.postcode": digits[:4] + "AB"},
        ):
            body = make_registration(**change)
            assert_problem(await http.post(stack.registry + "/v1/registrations", json=body, headers=registry), 400)
        assert_problem(await http.get(f"{stack.registry}/v1/municipalities/{code}", headers=registry), 400)


async def test_booleans_and_numeric_strings_are_not_numbers(stack, http):
    token = await stack.client_token(http, scopes=("housing:read", "housing:write"), municipality_code="GM1655")
    headers = {"Authorization": f"Bearer {token}"}
    for beds in (True, "10", 10.5):
        response = await http.post(
            stack.housing + "/v1/housing-locations", json=make_location(beds=beds), headers=headers
        )
        assert assert_problem(response, 400, "invalid-input")["invalidParams"][0]["name"] == "beds"
    body = make_location(beds=10, status="operational")
    assert (await http.post(stack.housing + "/v1/housing-locations", json=body, headers=headers)).status_code == 201
    reports = f"{stack.housing}/v1/housing-locations/{body['id']}/occupancy-reports"
    for occupied in (True, "5"):
        response = await http.post(reports, json={"date": "2026-11-01", "occupiedBeds": occupied}, headers=headers)
        assert_problem(response, 400, "invalid-input")
    # Dates: not before 2000-01-01 (nor in the future, as before).
    old = await http.post(reports, json={"date": "1900-01-01", "occupiedBeds": 5}, headers=headers)
    assert assert_problem(old, 400, "invalid-input")["invalidParams"][0]["name"] == "date"
    earliest = await http.post(reports, json={"date": "2000-01-01", "occupiedBeds": 5}, headers=headers)
    assert earliest.status_code == 201


async def test_a_body_that_is_not_json_is_415_naming_json(stack, http):
    cert = await certifier(stack, http)
    headers = {"Authorization": f"Bearer {cert.token}", "Content-Type": "text/plain"}
    body = json.dumps({"kvkNumber": "12345678", "name": "X", "kinds": ["employer"]})
    response = await http.post(stack.certification + "/v1/organisations", content=body, headers=headers)
    assert assert_problem(response, 415, "unsupported-media-type")["instance"] == "/v1/organisations"
    assert response.headers["accept-post"] == "application/json"
    via_gateway = await http.post(stack.gateway + "/certification/v1/organisations", content=body, headers=headers)
    assert assert_problem(via_gateway, 415)["instance"] == "/certification/v1/organisations"


async def test_a_hand_made_cursor_is_400_on_every_paged_list(stack, http):
    cert = await certifier(stack, http)
    registry = {"Authorization": "Bearer " + await stack.client_token(http, scopes=("registry:read",))}
    housing = {"Authorization": f"Bearer {await stack.client_token(http, scopes=('housing:read',))}"}
    for url, headers, position in (
        (stack.registry + "/v1/registrations", registry, {"id": "00000000"}),
        (stack.registry + "/v1/municipalities", registry, {"code": "GM0001"}),
        (stack.certification + "/v1/organisations", {"Authorization": f"Bearer {cert.token}"}, {"k": "00000000"}),
        (stack.certification + "/v1/certificates", {"Authorization": f"Bearer {cert.token}"}, {"k": "0"}),
        (stack.housing + "/v1/housing-locations", housing, {"id": "a"}),
    ):
        response = await http.get(url, params={"cursor": forged_cursor(position)}, headers=headers)
        assert assert_problem(response, 400, "invalid-input")["invalidParams"][0]["name"] == "cursor", url
    first = await http.get(stack.registry + "/v1/municipalities?pageSize=2", headers=registry)
    following = await http.get(stack.registry + first.json()["_links"]["next"]["href"], headers=registry)
    assert following.status_code == 200, following.text
    feed = await http.get(
        stack.certification + "/v1/events",
        params={"after": forged_cursor({"p": 0})},
        headers={"Authorization": f"Bearer {cert.token}"},
    )
    assert_problem(feed, 400, "invalid-input")


async def test_if_match_weak_is_412_and_star_matches(stack, http):
    registry = {"Authorization": "Bearer " + await stack.client_token(http, scopes=("registry:read", "registry:write"))}
    created = await http.post(stack.registry + "/v1/registrations", json=make_registration(), headers=registry)
    assert created.status_code == 201, created.text
    url = f"{stack.registry}/v1/registrations/{created.json()['id']}"
    merge = registry | {"Content-Type": "application/merge-patch+json"}
    change = json.dumps({"expectedEndDate": None})
    assert_problem(await http.patch(url, content=change, headers=merge | {"If-Match": 'W/"1"'}), 412)
    assert (await http.patch(url, content=change, headers=merge | {"If-Match": "*"})).status_code == 200

    housing = {"Authorization": f"Bearer {await stack.client_token(http, scopes=('housing:read', 'housing:write'))}"}
    body = make_location()
    assert (await http.post(stack.housing + "/v1/housing-locations", json=body, headers=housing)).status_code == 201
    url = f"{stack.housing}/v1/housing-locations/{body['id']}"
    merge = housing | {"Content-Type": "application/merge-patch+json"}
    assert_problem(await http.patch(url, content=b'{"beds": 40}', headers=merge | {"If-Match": 'W/"1"'}), 412)
    assert (await http.patch(url, content=b'{"beds": 40}', headers=merge | {"If-Match": "*"})).status_code == 200


async def test_two_long_jtis_sharing_200_characters_are_two_assertions(stack, http):
    key, public_pem = new_rsa_key()
    client_id, _ = await stack.register_client(public_key_pem=public_pem, scopes=("registry:statistics",))
    prefix = "j" * 200
    for jti in (prefix + "-first", prefix + "-second"):
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": client_assertion(key, client_id, stack.gateway_settings.token_endpoint, jti=jti),
        }
        assert (await http.post(stack.gateway + "/oauth/token", data=form)).status_code == 200
        replay = await http.post(stack.gateway + "/oauth/token", data=form)
        assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"
