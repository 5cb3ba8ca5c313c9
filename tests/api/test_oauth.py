"""The token endpoint: both client authentication methods, and every RFC 6749 error."""

from __future__ import annotations

import base64

import jsonschema_rs
import jwt
import pytest

from tests.support.tokens import client_assertion, new_rsa_key

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def assert_oauth_error(response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"


async def test_client_secret_basic_issues_an_rfc9068_access_token(stack, http):
    client_id, secret = await stack.register_client(scopes=("registry:read", "registry:statistics"))
    response = await http.post(
        stack.gateway + "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == stack.gateway_settings.token_ttl_seconds
    assert body["scope"] == "registry:read registry:statistics"
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256" and header["typ"] == "at+jwt" and header["kid"]
    jwks = (await http.get(stack.gateway + "/.well-known/jwks.json")).json()
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(
        body["access_token"],
        jwt.PyJWK(key).key,
        algorithms=["RS256"],
        audience="urn:lmx:api",
        issuer=stack.gateway_settings.issuer,
    )
    assert claims["sub"] == claims["client_id"] == client_id
    assert claims["org_type"] == "municipality" and claims["municipality_code"] == "GM1655"
    assert len(claims["org"]) == 20 and claims["org"].startswith("00000099")
    assert claims["exp"] - claims["iat"] == stack.gateway_settings.token_ttl_seconds
    assert claims["jti"]


async def test_requested_scopes_are_narrowed(stack, http):
    client_id, secret = await stack.register_client(scopes=("registry:read", "registry:statistics"))
    response = await http.post(
        stack.gateway + "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "registry:statistics"},
        auth=(client_id, secret),
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "registry:statistics"


async def test_wrong_secret_is_invalid_client(stack, http):
    client_id, _ = await stack.register_client()
    response = await http.post(
        stack.gateway + "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, "not-the-secret")
    )
    assert_oauth_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].startswith("Basic")


async def test_unknown_client_and_malformed_basic_are_invalid_client(stack, http):
    response = await http.post(
        stack.gateway + "/oauth/token", data={"grant_type": "client_credentials"}, auth=("no-such-client", "whatever")
    )
    assert_oauth_error(response, 401, "invalid_client")
    response = await http.post(
        stack.gateway + "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic !!!not-base64"},
    )
    assert_oauth_error(response, 401, "invalid_client")
    no_colon = base64.b64encode(b"just-an-id").decode()
    response = await http.post(
        stack.gateway + "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {no_colon}"},
    )
    assert_oauth_error(response, 401, "invalid_client")


async def test_no_client_authentication_is_invalid_client(stack, http):
    response = await http.post(stack.gateway + "/oauth/token", data={"grant_type": "client_credentials"})
    assert_oauth_error(response, 401, "invalid_client")


async def test_disabled_client_gets_no_token(stack, http):
    from gateway.clients import set_disabled
    from lmx_common.db import Database

    client_id, secret = await stack.register_client()
    database = Database(stack.database_urls["gateway"])
    async with database.sessionmaker() as session, session.begin():
        await set_disabled(session, client_id)
    await database.dispose()
    response = await http.post(
        stack.gateway + "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert_oauth_error(response, 401, "invalid_client")


async def test_unallowed_scope_is_invalid_scope(stack, http):
    client_id, secret = await stack.register_client(scopes=("registry:read",))
    response = await http.post(
        stack.gateway + "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "registry:read audit:read"},
        auth=(client_id, secret),
    )
    assert_oauth_error(response, 400, "invalid_scope")
    assert "audit:read" in response.json()["error_description"]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"grant_type": "authorization_code", "code": "x"}, "unsupported_grant_type"),
        ({"grant_type": "password", "username": "a", "password": "b"}, "unsupported_grant_type"),
        ({}, "invalid_request"),
        ({"grant_type": ["client_credentials", "client_credentials"]}, "invalid_request"),
    ],
)
async def test_grant_errors(stack, http, data, error):
    client_id, secret = await stack.register_client()
    response = await http.post(stack.gateway + "/oauth/token", data=data, auth=(client_id, secret))
    assert_oauth_error(response, 400, error)


async def test_json_body_is_invalid_request(stack, http):
    client_id, secret = await stack.register_client()
    response = await http.post(
        stack.gateway + "/oauth/token", json={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert_oauth_error(response, 400, "invalid_request")


async def test_private_key_jwt_issues_a_token_and_refuses_a_replay(stack, http):
    key, public_pem = new_rsa_key()
    client_id, secret = await stack.register_client(public_key_pem=public_pem, scopes=("registry:statistics",))
    assert secret is None
    assertion = client_assertion(key, client_id, stack.gateway_settings.token_endpoint)
    form = {"grant_type": "client_credentials", "client_assertion_type": JWT_BEARER, "client_assertion": assertion}
    first = await http.post(stack.gateway + "/oauth/token", data=form)
    assert first.status_code == 200, first.text
    claims = jwt.decode(first.json()["access_token"], options={"verify_signature": False})
    assert claims["client_id"] == client_id and claims["scope"] == "registry:statistics"

    replay = await http.post(stack.gateway + "/oauth/token", data=form)
    assert_oauth_error(replay, 401, "invalid_client")
    assert "already used" in replay.json()["error_description"]

    fresh = client_assertion(key, client_id, stack.gateway_settings.token_endpoint)
    again = await http.post(stack.gateway + "/oauth/token", data=form | {"client_assertion": fresh})
    assert again.status_code == 200


async def test_private_key_jwt_accepts_the_issuer_as_audience(stack, http):
    key, public_pem = new_rsa_key()
    client_id, _ = await stack.register_client(public_key_pem=public_pem)
    assertion = client_assertion(key, client_id, stack.gateway_settings.issuer)
    response = await http.post(
        stack.gateway + "/oauth/token",
        data={"grant_type": "client_credentials", "client_assertion_type": JWT_BEARER, "client_assertion": assertion},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "case",
    ["wrong-audience", "expired", "other-key", "sub-differs", "no-jti", "too-long-lived", "wrong-type", "garbage"],
)
async def test_private_key_jwt_rejections(stack, http, case):
    key, public_pem = new_rsa_key()
    client_id, _ = await stack.register_client(public_key_pem=public_pem)
    endpoint = stack.gateway_settings.token_endpoint
    assertion_type = JWT_BEARER
    if case == "wrong-audience":
        assertion = client_assertion(key, client_id, "https://elsewhere.example/token")
    elif case == "expired":
        assertion = client_assertion(key, client_id, endpoint, iat=1_000_000, exp=1_000_060)
    elif case == "other-key":
        assertion = client_assertion(new_rsa_key()[0], client_id, endpoint)
    elif case == "sub-differs":
        assertion = client_assertion(key, client_id, endpoint, sub="someone-else")
    elif case == "no-jti":
        assertion = client_assertion(key, client_id, endpoint, jti=None)
    elif case == "too-long-lived":
        import time

        assertion = client_assertion(key, client_id, endpoint, exp=int(time.time()) + 86400)
    elif case == "wrong-type":
        assertion = client_assertion(key, client_id, endpoint)
        assertion_type = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"
    else:
        assertion = "not.a.jwt"
    response = await http.post(
        stack.gateway + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": assertion_type,
            "client_assertion": assertion,
        },
    )
    assert_oauth_error(response, 401, "invalid_client")


async def test_discovery_documents(stack, http):
    metadata = (await http.get(stack.gateway + "/.well-known/oauth-authorization-server")).json()
    assert metadata["issuer"] == stack.gateway_settings.issuer
    assert metadata["token_endpoint"] == stack.gateway_settings.token_endpoint
    assert metadata["jwks_uri"].endswith("/.well-known/jwks.json")
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {"private_key_jwt", "client_secret_basic"}
    assert metadata["grant_types_supported"] == ["client_credentials"]
    assert "registry:statistics" in metadata["scopes_supported"]
    jwks = (await http.get(stack.gateway + "/.well-known/jwks.json")).json()
    assert jwks["keys"], jwks
    for key in jwks["keys"]:
        assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig" and key["kid"]
        assert "d" not in key and "p" not in key  # never a private part


async def test_the_gateways_own_answers_match_their_published_schemas(stack, http):
    """The discovery documents and the problem index are answered as the gateway's OpenAPI describes them."""
    document = (await http.get(stack.gateway + "/openapi.json")).json()
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/jwks.json", "/problems"):
        response = await http.get(stack.gateway + path)
        assert response.status_code == 200, path
        schema = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema.get("$ref"), path  # a schema, not the `{}` of an untyped answer
        validator = jsonschema_rs.Draft202012Validator({**schema, "components": document["components"]})
        assert validator.is_valid(response.json()), (path, [e.message for e in validator.iter_errors(response.json())])
