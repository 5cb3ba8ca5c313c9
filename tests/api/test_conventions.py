"""NL GOV API Design Rules that hold for every component: headers, errors, OpenAPI, pagination."""

from __future__ import annotations

import re

import pytest

from tests.conftest import assert_problem

SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


def assert_standard_headers(response) -> None:
    headers = response.headers
    assert SEMVER.match(headers["api-version"]), (response.request.url, headers)
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"
    assert "cache-control" in headers
    assert headers["x-transaction-id"]
    assert re.match(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$", headers["traceparent"])


async def test_every_response_of_every_component_carries_the_headers(stack, http):
    token = await stack.client_token(http)
    auth = {"Authorization": f"Bearer {token}"}
    client_id, secret = await stack.register_client()
    requests = [
        ("GET", stack.gateway + "/health/live", {}, None),
        ("GET", stack.gateway + "/health/ready", {}, None),
        ("GET", stack.gateway + "/openapi.json", {}, None),
        ("GET", stack.gateway + "/docs", {}, None),
        ("GET", stack.gateway + "/problems/gateway-upstream-timeout", {}, None),
        ("GET", stack.gateway + "/.well-known/jwks.json", {}, None),
        ("GET", stack.gateway + "/.well-known/oauth-authorization-server", {}, None),
        ("POST", stack.gateway + "/oauth/token", {}, {"grant_type": "client_credentials"}),
        ("GET", stack.gateway + "/no-such-path", {}, None),
        ("DELETE", stack.gateway + "/health/live", {}, None),
        ("GET", stack.gateway + "/registry/v1/municipalities", {}, None),
        ("GET", stack.gateway + "/registry/v1/municipalities?pageSize=0", auth, None),
    ]
    for service in ("registry", "certification", "housing"):
        base = getattr(stack, service)
        requests += [
            ("GET", base + "/health/live", {}, None),
            ("GET", base + "/health/ready", {}, None),
            ("GET", base + "/v1/openapi.json", {}, None),
            ("GET", base + "/v1/nothing", auth, None),
            ("GET", f"{stack.gateway}/{service}/v1/openapi.json", {}, None),
        ]
    requests += [
        ("GET", stack.registry + "/v1/municipalities", auth, None),
        ("GET", stack.registry + "/v1/municipalities", {}, None),
        ("GET", stack.certification + "/v1/schemes", auth, None),
        ("GET", stack.housing + "/v1/regions/west-brabant", auth, None),
        ("GET", stack.housing + "/v1/regions/PV99", auth, None),
    ]
    seen_statuses = set()
    for method, url, headers, form in requests:
        if form is not None:
            response = await http.request(method, url, data=form, auth=(client_id, secret))
        else:
            response = await http.request(method, url, headers=headers)
        seen_statuses.add(response.status_code)
        assert_standard_headers(response)
    assert {200, 400, 401, 404, 405, 503} - seen_statuses <= {503}


async def test_problem_responses_from_the_proxy_carry_the_headers(stack, http, backend):
    from contextlib import ExitStack

    from tests.support.stack import start_lab_gateway

    with ExitStack() as exits:
        lab, _ = start_lab_gateway(exits, backend.urls, max_body_bytes=10)
        client_id, secret = await stack.register_client(scopes=("certification:read", "registry:write"))
        token = await stack.token(http, client_id, secret, gateway=lab)
        auth = {"Authorization": f"Bearer {token}"}
        down = await http.get(lab + "/certification/v1/schemes", headers=auth)
        too_large = await http.post(lab + "/registry/v1/registrations", content=b"x" * 100, headers=auth)
        for response, status in ((down, 503), (too_large, 413)):
            assert_problem(response, status)
            assert_standard_headers(response)


async def test_invalid_input_lists_every_invalid_parameter(stack, http):
    token = await stack.client_token(http)
    response = await http.get(
        stack.gateway + "/registry/v1/municipalities?provinceCode=XX&pageSize=0",
        headers={"Authorization": f"Bearer {token}"},
    )
    body = assert_problem(response, 400, "invalid-input")
    assert {(p["name"], p["in"]) for p in body["invalidParams"]} == {("provinceCode", "query"), ("pageSize", "query")}
    assert all(p["reason"] and p["code"] for p in body["invalidParams"])
    assert body["instance"] == "/registry/v1/municipalities"

    path_and_query = await http.get(
        stack.registry + "/v1/municipalities/NOT-A-CODE", headers={"Authorization": f"Bearer {token}"}
    )
    params = assert_problem(path_and_query, 400, "invalid-input")["invalidParams"]
    assert [(p["name"], p["in"]) for p in params] == [("code", "path")]
    kind = await http.get(stack.housing + "/v1/regions?kind=planet", headers={"Authorization": f"Bearer {token}"})
    assert [p["name"] for p in assert_problem(kind, 400, "invalid-input")["invalidParams"]] == ["kind"]


async def test_a_forged_cursor_is_400(stack, http):
    token = await stack.client_token(http)
    for cursor in ("not-base64!!", "eyJ4IjoxfQ"):  # the second decodes to {"x": 1}
        response = await http.get(
            stack.registry + f"/v1/municipalities?cursor={cursor}", headers={"Authorization": f"Bearer {token}"}
        )
        body = assert_problem(response, 400, "invalid-input")
        assert body["invalidParams"][0]["name"] == "cursor"


async def test_cursor_pagination_walks_every_item_once_through_the_gateway(stack, http):
    token = await stack.client_token(http)
    headers = {"Authorization": f"Bearer {token}"}
    url = stack.gateway + "/registry/v1/municipalities?provinceCode=PV30&pageSize=7"
    codes: list[str] = []
    pages = 0
    while url:
        response = await http.get(url, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        codes += [m["code"] for m in body["items"]]
        assert all(m["provinceCode"] == "PV30" for m in body["items"])
        nxt = body["_links"].get("next")
        url = stack.gateway + nxt["href"] if nxt else None
        pages += 1
    assert len(codes) == len(set(codes)) == 56  # Noord-Brabant has 56 municipalities in 2026
    assert codes == sorted(codes)
    assert pages == 8


@pytest.mark.parametrize("service", ["registry", "certification", "housing"])
async def test_openapi_is_public_and_follows_the_rules(stack, http, service):
    response = await http.get(getattr(stack, service) + "/v1/openapi.json")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    document = response.json()
    assert document["openapi"].startswith("3.")
    info = document["info"]
    assert SEMVER.match(info["version"])
    assert response.headers["api-version"] == info["version"]
    assert {"name", "url", "email"} <= set(info["contact"])
    assert "Problem" in document["components"]["schemas"]
    # The major version is in the servers (/core/uri-version), the paths are below it.
    assert [server["url"] for server in document["servers"]] == [f"/{service}/v1", "/v1"]
    for path, item in document["paths"].items():
        assert path.startswith("/") and not path.startswith("/v1"), path
        assert re.match(r"^[a-z0-9/{}\-.]+$", re.sub(r"\{[^}]+\}", "{x}", path)), path
        for operation in item.values():
            responses = operation["responses"]
            # Invalid input is a 400, never FastAPI's 422; a 422 is only the documented reuse of an Idempotency-Key.
            if "422" in responses:
                assert "Idempotency-Key" in responses["422"]["description"], (path, responses["422"])
                assert set(responses["422"]["content"]) == {"application/problem+json"}, (path, responses["422"])
            if operation.get("parameters"):
                problem = responses["400"]["content"]["application/problem+json"]["schema"]
                assert problem == {"$ref": "#/components/schemas/Problem"}
                for parameter in operation["parameters"]:
                    if parameter["in"] == "query":
                        assert re.match(r"^[a-z][a-zA-Z0-9]*$", parameter["name"]), parameter["name"]
            if operation.get("security"):
                assert "401" in responses and "403" in responses
    for name in document["components"]["schemas"]:
        assert re.match(r"^[A-Z][A-Za-z0-9]*$", name), name


async def test_the_gateway_docs_page_lists_every_service(stack, http):
    page = await http.get(stack.gateway + "/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for service in ("registry", "certification", "housing"):
        assert f"/{service}/v1/openapi.json" in page.text
    problems = (await http.get(stack.gateway + "/problems")).json()
    assert "gateway-upstream-timeout" in problems
    described = await http.get(stack.gateway + "/problems/gateway-upstream-timeout")
    assert described.status_code == 200 and "gateway answered" in described.text
    assert_problem(await http.get(stack.gateway + "/problems/no-such-type"), 404)
