"""`GET /catalogue`: which operations of which service the calling client may call.

Derived from the route table the proxy enforces (``gateway/route_table.json``, generated from the
services' scope declarations; ADR 0019), so the catalogue cannot say other than the gateway does:
per service, per path and method, the scopes of which any one is enough, the ones the token holds,
and whether the call is allowed. It answers for the token presented (its granted scopes, which may
be fewer than the client is registered for), not for the organisation's data rules behind a route.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from gateway import routes
from lmx_common.auth import CallerDep, Principal
from lmx_common.problems import ProblemError, problem_openapi_response
from lmx_common.schemas import examples

router = APIRouter(tags=["catalogue"])

Access = Literal["public", "any token", "scopes"]


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class CatalogueOperation(_Camel):
    method: str = Field(description="The HTTP method.", examples=["GET"])
    path: str = Field(description="The path at the gateway (a template).", examples=["/registry/v1/registrations"])
    access: Access = Field(description="public: no token; any token: any valid token; scopes: one of any_of_scopes.")
    any_of_scopes: list[str] = Field(description="Scopes of which any one is enough (empty unless access is scopes).")
    held_scopes: list[str] = Field(description="Those of any_of_scopes the token holds.")
    missing_scopes: list[str] = Field(description="Those of any_of_scopes the token lacks.")
    allowed: bool = Field(description="Whether the gateway lets this token call the operation.")


class Catalogue(_Camel):
    model_config = ConfigDict(
        json_schema_extra=examples(
            {
                "clientId": "mip-west-brabant",
                "scopes": ["registry:read", "registry:write"],
                "services": {
                    "registry": [
                        {
                            "method": "GET",
                            "path": "/registry/v1/registrations",
                            "access": "scopes",
                            "anyOfScopes": ["registry:read"],
                            "heldScopes": ["registry:read"],
                            "missingScopes": [],
                            "allowed": True,
                        },
                        {
                            "method": "GET",
                            "path": "/registry/v1/statistics/municipalities",
                            "access": "scopes",
                            "anyOfScopes": ["registry:statistics"],
                            "heldScopes": [],
                            "missingScopes": ["registry:statistics"],
                            "allowed": False,
                        },
                    ],
                },
            }
        )
    )

    client_id: str = Field(description="The client the token was issued to.")
    scopes: list[str] = Field(description="The scopes the token holds.")
    services: dict[str, list[CatalogueOperation]] = Field(description="Per service, every operation it offers.")


def operation(rule: routes.RouteRule, method: str, held: frozenset[str]) -> CatalogueOperation:
    path = f"/{rule.service}{rule.path}"
    if rule.public or rule.any_of_scopes == routes.AUTHENTICATED:
        access: Access = "public" if rule.public else "any token"
        return CatalogueOperation(
            method=method, path=path, access=access, any_of_scopes=[], held_scopes=[], missing_scopes=[], allowed=True
        )
    required = sorted(rule.any_of_scopes)
    return CatalogueOperation(
        method=method,
        path=path,
        access="scopes",
        any_of_scopes=required,
        held_scopes=[s for s in required if s in held],
        missing_scopes=[s for s in required if s not in held],
        allowed=not held.isdisjoint(required),
    )


def catalogue_for(table: routes.RouteTable, principal: Principal) -> Catalogue:
    services: dict[str, list[CatalogueOperation]] = {}
    for service, rules in table.by_service.items():
        entries = [operation(rule, method, principal.scopes) for rule in rules for method in rule.methods]
        services[service] = sorted(entries, key=lambda e: (e.path, e.method))
    return Catalogue(client_id=principal.client_id, scopes=sorted(principal.scopes), services=services)


@router.get(
    "/catalogue",
    response_model=Catalogue,
    summary="The operations this client may call",
    description="Every operation of every service behind the gateway, with the scopes it needs and whether "
    "the presented token holds one of them. Derived from the route table the gateway enforces.",
    responses={429: problem_openapi_response("Rate limit exceeded; see Retry-After.")},
)
async def get_catalogue(request: Request, principal: CallerDep) -> Catalogue:
    state = request.app.state.proxy
    retry = await state.rate_limiter.check(principal.client_id)
    if retry is not None:
        raise ProblemError(
            429, "Rate limit exceeded; retry later.", slug="too-many-requests", headers={"Retry-After": str(int(retry))}
        )
    return catalogue_for(state.routes, principal)
