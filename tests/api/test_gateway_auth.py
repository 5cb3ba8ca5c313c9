"""Bearer tokens at the gateway and at each service (bypassing the gateway): RFC 8725 rules."""

from __future__ import annotations

import time

import pytest

from tests.conftest import assert_problem
from tests.support.tokens import (
    access_claims,
    b64,
    gateway_signer,
    hs256_with_public_key,
    new_rsa_key,
    sign,
    unsigned,
)

BAD_TOKENS = [
    "missing",
    "alg-none",
    "hs256-with-public-key",
    "expired",
    "not-yet-valid",
    "wrong-audience",
    "wrong-issuer",
    "unknown-kid",
    "foreign-key-same-kid",
    "garbage",
    "oversized",
    "not-bearer",
    "id-token-typ",
    "missing-claims",
    "jku-header-pointing-elsewhere",
]


async def bad_authorization(stack, http, case: str) -> dict[str, str]:
    kid, key = await gateway_signer(stack.database_urls["gateway"], stack.gateway_settings.key_passphrase)
    issuer = stack.gateway_settings.issuer
    claims = access_claims(issuer)
    now = int(time.time())
    jwks = (await http.get(stack.gateway + "/.well-known/jwks.json")).json()
    public_jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    if case == "missing":
        return {}
    if case == "alg-none":
        token = unsigned(claims, kid)
    elif case == "hs256-with-public-key":
        import jwt
        from cryptography.hazmat.primitives import serialization

        public = jwt.PyJWK(public_jwk).key
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        token = hs256_with_public_key(claims, pem.decode(), kid)
    elif case == "expired":
        token = sign(access_claims(issuer, iat=now - 3600, nbf=now - 3600, exp=now - 600), key, kid)
    elif case == "not-yet-valid":
        token = sign(access_claims(issuer, nbf=now + 600, exp=now + 900), key, kid)
    elif case == "wrong-audience":
        token = sign(access_claims(issuer, audience="urn:someone-else"), key, kid)
    elif case == "wrong-issuer":
        token = sign(access_claims("https://evil.example"), key, kid)
    elif case == "unknown-kid":
        token = sign(claims, key, "no-such-kid")
    elif case == "foreign-key-same-kid":
        token = sign(claims, new_rsa_key()[0], kid)
    elif case == "garbage":
        token = "this-is-not-a-jwt"
    elif case == "oversized":
        token = sign(access_claims(issuer, padding="x" * 10_000), key, kid)
    elif case == "not-bearer":
        return {"Authorization": "Basic " + b64(b"user:pass")}
    elif case == "id-token-typ":
        token = sign(claims, key, kid, typ="JWT")
    elif case == "missing-claims":
        token = sign({k: v for k, v in claims.items() if k not in {"client_id", "org_type"}}, key, kid)
    elif case == "jku-header-pointing-elsewhere":
        import jwt

        attacker, _ = new_rsa_key()
        token = jwt.encode(
            claims,
            attacker,
            algorithm="RS256",
            headers={"kid": "attacker", "typ": "at+jwt", "jku": "https://evil.example/jwks.json"},
        )
    else:
        raise AssertionError(case)
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("case", BAD_TOKENS)
async def test_gateway_refuses_bad_tokens_with_401(stack, http, case):
    headers = await bad_authorization(stack, http, case)
    response = await http.get(stack.gateway + "/registry/v1/municipalities", headers=headers)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer realm=")


@pytest.mark.parametrize("case", BAD_TOKENS)
@pytest.mark.parametrize(
    ("service", "path"),
    [("registry", "/v1/municipalities"), ("certification", "/v1/schemes"), ("housing", "/v1/regions")],
)
async def test_services_called_directly_refuse_bad_tokens(stack, http, case, service, path):
    headers = await bad_authorization(stack, http, case)
    response = await http.get(getattr(stack, service) + path, headers=headers)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer realm=")


@pytest.mark.parametrize(
    ("service", "path"),
    [("registry", "/v1/municipalities"), ("certification", "/v1/schemes"), ("housing", "/v1/regions")],
)
async def test_services_accept_a_valid_token_directly_and_through_the_gateway(stack, http, service, path):
    token = await stack.client_token(http)
    headers = {"Authorization": f"Bearer {token}"}
    direct = await http.get(getattr(stack, service) + path, headers=headers)
    assert direct.status_code == 200, direct.text
    proxied = await http.get(f"{stack.gateway}/{service}{path}", headers=headers)
    assert proxied.status_code == 200, proxied.text
    assert (
        proxied.json()["items" if "items" in direct.json() else "code"]
        == direct.json()["items" if "items" in direct.json() else "code"]
    )


async def test_a_missing_scope_is_403(stack, http):
    token = await stack.client_token(http, org_type="province", province_code="PV30", scopes=("registry:statistics",))
    response = await http.get(
        stack.gateway + "/registry/v1/registrations", headers={"Authorization": f"Bearer {token}"}
    )
    body = assert_problem(response, 403, "forbidden")
    assert "registry:read" in body["detail"]
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


async def test_unknown_route_at_the_gateway_is_404_problem(stack, http):
    token = await stack.client_token(http)
    response = await http.get(stack.gateway + "/registry/v2/anything", headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 404, "not-found")
    assert_problem(await http.get(stack.gateway + "/nothing-here"), 404, "not-found")
