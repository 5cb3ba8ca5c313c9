"""Defects found in review, each pinned by a test: concurrent duplicate BSNs, malformed input answering
500, dot segments past the gateway's scope check, a key-type mismatch at the token endpoint, exact
statistics for a province outside its province, and period defaults."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import date

from tests.conftest import assert_problem
from tests.support.db import scalar
from tests.support.registrations import make_registration

BOTH = ("registry:read", "registry:write")


async def test_concurrent_creations_for_one_bsn_give_one_registration(stack, http):
    token = await stack.client_token(http, org_type="information-point", scopes=BOTH)
    headers = {"Authorization": f"Bearer {token}"}
    body = make_registration()
    responses = await asyncio.gather(
        *(http.post(stack.registry + "/v1/registrations", json=body, headers=headers) for _ in range(6))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1 and set(statuses[1:]) == {409}, [r.text for r in responses]
    created = next(r for r in responses if r.status_code == 201).json()["id"]
    count = await scalar(
        stack.database_urls["registry"],
        "SELECT count(*) FROM registrations WHERE status = 'active' "
        "AND bsn_pseudonym = (SELECT bsn_pseudonym FROM registrations WHERE id = :id)",
        id=created,
    )
    assert count == 1


async def test_malformed_input_is_400_never_500(stack, http):
    token = await stack.client_token(http, scopes=BOTH, municipality_code="GM1655")
    headers = {"Authorization": f"Bearer {token}"}
    api = stack.registry + "/v1"
    created = (await http.post(api + "/registrations", json=make_registration(), headers=headers)).json()
    url = f"{api}/registrations/{created['id']}"
    patch_headers = headers | {"Content-Type": "application/merge-patch+json", "If-Match": '"1"'}
    for body in ('{"expectedEndDate": ' + "9" * 5000 + "}", "[" * 100_000):
        assert_problem(await http.patch(url, content=body, headers=patch_headers), 400, "invalid-input")
    ndjson = "\n".join(
        ["[" * 100_000, '{"a": ' + "9" * 5000 + "}", json.dumps(make_registration(**{"person.givenNames": "A\u2028B"}))]
    )
    bulk = await http.post(
        api + "/registrations/bulk", content=ndjson.encode(), headers=headers | {"Content-Type": "application/x-ndjson"}
    )
    assert bulk.status_code == 200, bulk.text
    assert [r["status"] for r in bulk.json()["results"]] == ["invalid", "invalid", "created"]
    huge_csv = "bsn,givenNames\n1," + '"' + "x" * 200_000 + '"\n'
    assert_problem(
        await http.post(api + "/registrations/bulk", content=huge_csv, headers=headers | {"Content-Type": "text/csv"}),
        400,
    )

    def cursor(value) -> str:
        return base64.urlsafe_b64encode(json.dumps({"id": value}).encode()).decode().rstrip("=")

    assert_problem(await http.get(api + f"/registrations?cursor={cursor([1])}", headers=headers), 400)
    log = f"{api}/processing-log?registrationId={created['id']}&cursor="
    assert_problem(await http.get(log + cursor("abc"), headers=headers), 400)
    assert_problem(await http.get(log + cursor([1]), headers=headers), 400)


async def test_dot_segments_cannot_steer_around_the_scope_check(stack, http):
    token = await stack.client_token(http, org_type="national", scopes=("registry:statistics",))
    headers = {"Authorization": f"Bearer {token}"}
    for path in (
        "/registry/v1/statistics/%2e%2e/processing-log?registrationId=x",
        "/registry/v1/statistics/%2E%2E/registrations",
        "/registry/v1/statistics%2f..%2fregistrations",
    ):
        response = await http.get(stack.gateway + path, headers=headers)
        assert_problem(response, 400, "invalid-input")


async def test_an_assertion_whose_algorithm_does_not_fit_the_key_is_invalid_client(stack, http):
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.support.tokens import new_rsa_key

    _, public_pem = new_rsa_key()
    client_id, _ = await stack.register_client(public_key_pem=public_pem)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    assertion = jwt.encode(
        {
            "iss": client_id,
            "sub": client_id,
            "aud": stack.gateway_settings.token_endpoint,
            "exp": 9_999_999_999,
            "jti": "x",
        },
        ec_key,
        algorithm="ES256",
    )
    response = await http.post(
        stack.gateway + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        },
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


async def test_a_province_with_person_level_access_gets_exact_figures_only_for_itself(stack, http):
    token = await stack.client_token(
        http, org_type="province", province_code="PV20", scopes=("registry:statistics", "registry:person-level")
    )
    mip = await stack.client_token(http, org_type="information-point", scopes=BOTH)
    body = make_registration(**{"residence.municipalityCode": "GM1896", "work.municipalityCode": "GM1896"})
    await http.post(stack.registry + "/v1/registrations", json=body, headers={"Authorization": f"Bearer {mip}"})
    response = await http.get(
        stack.registry + "/v1/statistics/municipalities?provinceCode=PV23", headers={"Authorization": f"Bearer {token}"}
    )
    zwartewaterland = next(i for i in response.json()["items"] if i["municipalityCode"] == "GM1896")
    assert zwartewaterland["working"]["suppressed"] is True


async def test_a_period_with_only_an_end_starts_in_that_year(stack, http):
    token = await stack.client_token(http, org_type="national", scopes=("registry:statistics",))
    response = await http.get(
        stack.registry + "/v1/statistics/municipalities?provinceCode=PV29&periodTo=2024-06-01",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["period"] == {"from": "2024-01-01", "to": "2024-06-01"}
    later = date.today().replace(year=date.today().year + 1).isoformat()
    ahead = await http.get(
        stack.registry + f"/v1/statistics/municipalities?provinceCode=PV29&periodFrom={later}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert ahead.status_code == 200 and ahead.json()["period"]["from"] == later
