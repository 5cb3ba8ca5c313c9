"""`GET /catalogue` (issue 15, item 5): the operations a client may call, against the route table."""

from __future__ import annotations

import json

from gateway.routes import ANY_TOKEN, PUBLIC, TABLE_FILE
from tests.conftest import assert_problem


def expected_from_table(held: set[str]) -> dict[tuple[str, str], dict[str, object]]:
    """Read straight from route_table.json (the single declaration), not through RouteTable."""
    table = json.loads(TABLE_FILE.read_text())["services"]
    expected = {}
    for service, rules in table.items():
        for rule in rules:
            for method, access in rule["methods"].items():
                path = f"/{service}{rule['path']}"
                if access in (PUBLIC, ANY_TOKEN):
                    expected[(path, method)] = {"allowed": True, "anyOfScopes": [], "heldScopes": []}
                else:
                    expected[(path, method)] = {
                        "allowed": bool(held & set(access)),
                        "anyOfScopes": sorted(access),
                        "heldScopes": sorted(held & set(access)),
                    }
    return expected


async def test_the_catalogue_lists_every_route_and_allows_exactly_what_the_scopes_allow(stack, http):
    client_id, secret = await stack.register_client(scopes=("registry:read", "housing:read", "audit:read"))
    token = await stack.token(http, client_id, secret, scope="registry:read housing:read")  # a narrower token
    response = await http.get(stack.gateway + "/catalogue", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    catalogue = response.json()
    assert catalogue["clientId"] == client_id
    assert catalogue["scopes"] == ["housing:read", "registry:read"]  # the token's, not the registration's
    held = {"registry:read", "housing:read"}
    expected = expected_from_table(held)
    assert set(catalogue["services"]) == {"registry", "certification", "housing"}
    seen = {}
    for service, operations in catalogue["services"].items():
        for op in operations:
            assert op["path"].startswith(f"/{service}/")
            key = (op["path"], op["method"])
            assert key not in seen, key
            seen[key] = op
            assert sorted(op["missingScopes"]) == sorted(set(op["anyOfScopes"]) - held)
    assert set(seen) == set(expected)  # every route, nothing else
    for key, want in expected.items():
        got = seen[key]
        assert {k: got[k] for k in want} == want, key
    assert not seen[("/registry/v1/processing-log/checkpoints", "GET")]["allowed"]  # audit:read not in the token
    assert seen[("/registry/v1/registrations", "GET")]["allowed"]

    # The gateway does what the catalogue says: every GET without a path parameter is refused (403)
    # exactly when the catalogue says it is not allowed.
    for (path, method), op in seen.items():
        if method != "GET" or "{" in path or path.endswith("/export"):
            continue
        answer = await http.get(stack.gateway + path, headers={"Authorization": f"Bearer {token}"})
        assert (answer.status_code == 403) == (not op["allowed"]), (path, answer.status_code, answer.text)


async def test_the_catalogue_needs_a_valid_token(stack, http):
    assert_problem(await http.get(stack.gateway + "/catalogue"), 401)
    assert_problem(await http.get(stack.gateway + "/catalogue", headers={"Authorization": "Bearer nope"}), 401)


async def test_the_catalogue_is_in_the_gateway_openapi(stack, http):
    document = (await http.get(stack.gateway + "/openapi.json")).json()
    operation = document["paths"]["/catalogue"]["get"]
    assert operation["security"]
    assert {"200", "401", "429"} <= set(operation["responses"])
