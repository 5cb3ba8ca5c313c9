"""A query parameter a route does not declare is refused with a 400, never silently ignored (issue 11, point 6):
an ignored filter answers as if it were applied (national figures for `provinceCode`), and a `bsn=` must not
look accepted. Every declared parameter still passes, on every GET operation the services and the gateway publish."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import assert_problem
from tests.support.registrations import valid_bsn


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refused(response: httpx.Response, *names: str) -> None:
    body = assert_problem(response, 400, "invalid-input")
    assert body["invalidParams"] == [
        {"name": n, "code": "unknown", "reason": "unknown parameter", "in": "query"} for n in sorted(names)
    ]


async def test_unknown_parameters_are_refused_through_the_gateway(stack, http):
    registry = auth(await stack.client_token(http, org_type="municipality", scopes=("registry:read",)))
    url = stack.gateway + "/registry/v1/registrations"
    assert (await http.get(url, headers=registry)).status_code == 200
    bsn = valid_bsn()
    response = await http.get(url, params={"bsn": bsn}, headers=registry)
    refused(response, "bsn")
    assert bsn not in response.text  # the value is not echoed
    statistics = auth(await stack.client_token(http, org_type="national", scopes=("registry:statistics",)))
    work_residence = stack.gateway + "/registry/v1/statistics/work-residence"
    refused(await http.get(work_residence, params={"foo": "1"}, headers=statistics), "foo")
    certification = auth(await stack.client_token(http, org_type="certifier", scopes=("certification:read",)))
    certificates = stack.gateway + "/certification/v1/certificates"
    refused(await http.get(certificates, params={"pageSize": 5, "kvk": "12345678"}, headers=certification), "kvk")
    assert (await http.get(certificates, params={"pageSize": 5}, headers=certification)).status_code == 200
    housing = auth(await stack.client_token(http, org_type="municipality", scopes=("fair-share:read",)))
    fair_share = stack.gateway + "/housing/v1/fair-share"
    refused(await http.get(fair_share, params={"region": "west-brabant", "x": "1"}, headers=housing), "region", "x")
    catalogue = stack.gateway + "/catalogue"
    assert (await http.get(catalogue, headers=housing)).status_code == 200
    refused(await http.get(catalogue, params={"service": "registry"}, headers=housing), "service")


def value_for(parameter: dict[str, Any]) -> str:
    """A value of the declared type (valid or not does not matter: only its name is checked first)."""
    schema = parameter.get("schema", {})
    for option in [schema, *schema.get("anyOf", [])]:
        if "example" in parameter:
            return str(parameter["example"])
        if option.get("examples"):
            return str(option["examples"][0])
        if option.get("enum"):
            return str(option["enum"][0])
        if "default" in option and option["default"] is not None:
            return str(option["default"]).lower() if isinstance(option["default"], bool) else str(option["default"])
        if option.get("type") == "integer":
            return "1"
    return "x"


def get_operations(document: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    operations = []
    for path, item in document["paths"].items():
        if "get" not in item:
            continue
        parameters = item.get("parameters", []) + item["get"].get("parameters", [])
        for parameter in parameters:
            path = path.replace("{" + parameter["name"] + "}", "x") if parameter["in"] == "path" else path
        operations.append((path, [p for p in parameters if p["in"] == "query"]))
    return operations


@pytest.mark.one_backend
@pytest.mark.parametrize("component", ["registry", "certification", "housing", "gateway"])
async def test_every_declared_query_parameter_passes_on_every_get_operation(stack, http, component):
    """Straight at each component (no token: the parameter check comes before authentication): the declared
    query parameters of every GET operation in its OpenAPI are never called unknown; one more name is."""
    base = stack.gateway if component == "gateway" else getattr(stack, component) + "/v1"
    document = (await http.get(base + "/openapi.json")).json()
    operations = get_operations(document)
    assert operations
    with_query = 0
    for path, parameters in operations:
        params = [(p["name"], value_for(p)) for p in parameters]
        with_query += bool(params)
        response = await http.get(base + path, params=params)
        if response.status_code == 400:
            unknown = [p for p in response.json().get("invalidParams", []) if p.get("code") == "unknown"]
            assert unknown == [], (path, params, response.text)
        refused(await http.get(base + path, params=[*params, ("zzUndeclared", "1")]), "zzUndeclared")
    assert with_query or component == "gateway"
