"""Each route's scopes are declared once, on its endpoint; everything else is derived or held to it.

The service's OpenAPI security requirements are written from the declaration; the gateway's
`route_table.json` and the table in docs/authentication.md are generated from the published
OpenAPI documents (`lmx routes generate`). These tests fail when any copy disagrees.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI

from gateway.routes import TABLE_FILE, RouteTable
from lmx_cli.routes import DOC_FILE, render_doc, render_table_file, route_tables, service_documents
from lmx_common.app import build_app
from lmx_common.auth import CallerDep, Principal, require_scopes
from lmx_common.routes import ANY_TOKEN, OPENAPI_PATH, PUBLIC, api_routes, route_access, route_table_from_openapi
from lmx_common.scopes import SCOPES, Scope


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    return service_documents()


def test_the_gateway_table_is_generated_from_the_services(documents):
    assert TABLE_FILE.read_text() == render_table_file(route_tables(documents)), "run `lmx routes generate`"


def test_the_scope_table_in_the_docs_is_generated_from_the_services(documents):
    current = DOC_FILE.read_text()
    assert current == render_doc(current, route_tables(documents)), "run `lmx routes generate`"


def _apps() -> dict[str, FastAPI]:
    from services.certification.main import create_app as certification
    from services.housing.main import create_app as housing
    from services.registry.main import create_app as registry

    return {"registry": registry(), "certification": certification(), "housing": housing()}


def _concrete(path: str) -> str:
    """A path the template matches: every parameter filled with a plausible value."""
    import re

    return re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000001", path)


def test_gateway_and_service_agree_on_every_route_of_every_service():
    """Walk every route of every service: the gateway asks exactly the scopes the service declares."""
    table = RouteTable.load()
    walked = 0
    for service, app in _apps().items():
        for route in api_routes(app):
            if not route.include_in_schema:
                continue
            access = route_access(route)
            for method in route.methods:
                rule = table.match(service, _concrete(route.path_format), method)
                assert rule is not None, (service, route.path_format, method)
                assert rule.path == route.path_format, (service, route.path_format, rule.path)
                if access.kind == PUBLIC:
                    assert rule.public
                elif access.kind == ANY_TOKEN:
                    assert rule.any_of_scopes == ("*",)
                else:
                    assert rule.any_of_scopes == access.scopes, (service, route.path_format, method)
                walked += 1
    assert walked >= 50  # every operation of the three services


def test_every_published_operation_declares_oauth2_security_with_known_scopes(documents):
    for service, document in documents.items():
        scheme = document["components"]["securitySchemes"]["oauth2"]
        assert scheme["type"] == "oauth2"
        flow = scheme["flows"]["clientCredentials"]
        assert flow["tokenUrl"].endswith("/oauth/token")
        assert flow["scopes"] == SCOPES
        assert "HTTPBearer" not in document["components"]["securitySchemes"]
        for path, item in document["paths"].items():
            for method, operation in item.items():
                security = operation.get("security")
                assert security, (service, path, method)  # no service publishes an unauthenticated operation
                for requirement in security:
                    assert set(requirement) == {"oauth2"}
                    assert set(requirement["oauth2"]) <= set(SCOPES)


def test_a_route_that_declares_scopes_twice_is_refused():
    router = APIRouter(dependencies=[Depends(require_scopes(Scope.HOUSING_READ))])

    @router.get("/v1/things")
    async def things(_: Principal = Depends(require_scopes(Scope.HOUSING_WRITE))) -> dict[str, str]:
        return {}

    app = FastAPI()
    app.include_router(router)
    (route,) = api_routes(app)
    with pytest.raises(ValueError, match="declare the scopes once"):
        route_access(route)


def test_the_declaration_writes_the_openapi_security_requirement():
    router = APIRouter(prefix="/v1")

    @router.get("/readable")
    async def readable(_: Principal = Depends(require_scopes(Scope.HOUSING_READ, Scope.AUDIT_READ))) -> None:
        return None

    @router.get("/any")
    async def any_token(_: CallerDep) -> None:
        return None

    @router.get("/open")
    async def open_() -> None:
        return None

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield

    app = build_app(
        title="t", description="d", version="1.0.0", lifespan=lifespan, openapi_path="/o", routers=[router],
        token_url="https://gw.example/oauth/token",
    )  # fmt: skip
    paths = app.openapi()["paths"]
    assert paths["/v1/readable"]["get"]["security"] == [{"oauth2": ["housing:read"]}, {"oauth2": ["audit:read"]}]
    assert paths["/v1/any"]["get"]["security"] == [{"oauth2": []}]
    assert "security" not in paths["/v1/open"]["get"]
    table = json.loads(json.dumps(RouteTable({"x": []}).by_service))  # an empty table is valid
    assert table == {"x": []}


def test_certification_reads_need_certification_read_not_write(documents):
    """Settled (ADR 0019): the write scope does not imply reading; gateway and service ask the same."""
    for path, item in documents["certification"]["paths"].items():
        get = item.get("get")
        if get and path.startswith(("/organisations", "/certificates")):
            assert {"oauth2": ["certification:write"]} not in get["security"], path


def test_the_version_is_in_the_servers_and_the_route_table_puts_it_back(documents):
    """/core/uri-version: servers `/<service>/v1` and `/v1`, paths below them; the gateway routes `/v1/...`."""
    for service, document in documents.items():
        assert [server["url"] for server in document["servers"]] == [f"/{service}/v1", "/v1"]
        assert all(not path.startswith("/v1") for path in document["paths"]), service
        table = {rule["path"] for rule in route_table_from_openapi(document)}
        assert table == {"/v1" + path for path in document["paths"]} | {OPENAPI_PATH}, service
