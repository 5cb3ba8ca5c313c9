"""CORS at the gateway (preflight, headers on real answers, proxied ones included) and the Swagger UI pages."""

from __future__ import annotations

import pytest

from tests.conftest import assert_problem

pytestmark = pytest.mark.one_backend
ALLOWED = "http://localhost:5173"
EVIL = "http://localhost.evil.example:5173"


def preflight(origin: str, method: str = "GET") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,x-processing-activity",
    }


@pytest.mark.parametrize("path", ["/registry/v1/municipalities", "/housing/v1/anything/at/all", "/oauth/token"])
async def test_preflight_from_allowed_origin(stack, http, path):
    response = await http.options(stack.gateway + path, headers=preflight(ALLOWED, "POST"))
    assert response.status_code == 204, response.text
    assert response.headers["access-control-allow-origin"] == ALLOWED  # the origin, never *
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed_headers = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {
        "authorization",
        "content-type",
        "idempotency-key",
        "if-match",
        "x-processing-activity",
        "traceparent",
    } <= allowed_headers
    assert int(response.headers["access-control-max-age"]) > 0
    assert "origin" in response.headers["vary"].lower()
    assert "access-control-allow-credentials" not in response.headers


async def test_preflight_from_disallowed_origin_is_refused_without_cors_headers(stack, http):
    for origin in (EVIL, "null", "https://example.org"):
        response = await http.options(stack.gateway + "/registry/v1/municipalities", headers=preflight(origin))
        assert_problem(response, 403, "forbidden")
        assert not [h for h in response.headers if h.startswith("access-control-")]


async def test_actual_responses_carry_cors_headers_proxied_and_own(stack, http):
    token = await stack.client_token(http)
    proxied = await http.get(
        stack.gateway + "/registry/v1/municipalities",
        headers={"Origin": ALLOWED, "Authorization": f"Bearer {token}"},
    )
    assert proxied.status_code == 200, proxied.text
    assert proxied.headers["access-control-allow-origin"] == ALLOWED
    exposed = {h.strip().lower() for h in proxied.headers["access-control-expose-headers"].split(",")}
    assert {"location", "etag", "api-version", "link", "retry-after", "x-transaction-id"} <= exposed
    assert "origin" in proxied.headers["vary"].lower()
    # A problem the gateway answers itself (no token) carries them too, so a page can read it.
    refused = await http.get(stack.gateway + "/registry/v1/municipalities", headers={"Origin": ALLOWED})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == ALLOWED
    token_answer = await http.post(
        stack.gateway + "/oauth/token", data={"grant_type": "client_credentials"}, headers={"Origin": ALLOWED}
    )
    assert token_answer.status_code == 401
    assert token_answer.headers["access-control-allow-origin"] == ALLOWED


async def test_no_cors_headers_without_origin_or_from_a_disallowed_one(stack, http):
    token = await stack.client_token(http)
    plain = await http.get(stack.gateway + "/registry/v1/municipalities", headers={"Authorization": f"Bearer {token}"})
    assert plain.status_code == 200
    assert not [h for h in plain.headers if h.startswith("access-control-")]
    evil = await http.get(
        stack.gateway + "/registry/v1/municipalities", headers={"Authorization": f"Bearer {token}", "Origin": EVIL}
    )
    assert evil.status_code == 200  # the server answers; the browser withholds it from the page
    assert not [h for h in evil.headers if h.startswith("access-control-")]


async def test_options_without_preflight_headers_is_not_a_preflight(stack, http):
    response = await http.options(stack.gateway + "/registry/v1/municipalities", headers={"Origin": ALLOWED})
    assert response.status_code == 405, response.text


async def test_docs_pages_and_assets(stack, http):
    index = await http.get(stack.gateway + "/docs")
    assert index.status_code == 200
    for service in ("registry", "certification", "housing"):
        assert f"href='/docs/{service}'" in index.text
        page = await http.get(stack.gateway + f"/docs/{service}")
        assert page.status_code == 200
        assert f"data-openapi-url='/{service}/v1/openapi.json'" in page.text
        assert "<script>" not in page.text and "cdn" not in page.text.lower()
        csp = page.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
        assert "frame-ancestors 'none'" in csp and "connect-src 'self'" in csp
    for name, media in (
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("swagger-init.js", "text/javascript"),
    ):
        asset = await http.get(stack.gateway + f"/docs/assets/{name}")
        assert asset.status_code == 200
        assert asset.headers["content-type"].startswith(media)
    assert_problem(await http.get(stack.gateway + "/docs/assets/..%2Fconfig.py"), 404)
    assert_problem(await http.get(stack.gateway + "/docs/assets/index.html"), 404)
    assert_problem(await http.get(stack.gateway + "/docs/nothing"), 404)
    # The JSON API keeps its strict policy.
    api = await http.get(stack.gateway + "/registry/v1/openapi.json")
    assert api.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert api.json()["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["tokenUrl"] == (
        stack.gateway + "/oauth/token"
    )
