"""Which scopes each route needs, derived from the one declaration on its endpoint.

A service's endpoint declares its scopes once (``require_scopes(Scope.X, ...)``, or ``CallerDep``
for any valid token, or nothing for a public route). From the routes of a FastAPI app this module
derives:

- the OpenAPI security requirement of every operation (OAuth2 client credentials, one
  alternative per scope: any one of them is enough) — :func:`apply_security`;
- the gateway's route table, from a service's *published* OpenAPI document, so the gateway never
  imports a service — :func:`route_table_from_openapi`; ``lmx routes generate`` writes it to
  ``gateway/route_table.json`` and the table in ``docs/authentication.md``
  (:func:`markdown_table`);

and publishes the major version in the servers, not in the paths (NL GOV /core/uri-version): a
service serves ``/v1/...``, its document lists the servers ``/<service>/v1`` and ``/v1`` and the
paths below them — :func:`publish_version_in_servers`; the route table puts the prefix back.

and ``tests`` hold the checked-in copies to the services' declarations (ADR 0019).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from lmx_common.auth import RequiredScopes, current_principal
from lmx_common.scopes import SCOPES

SECURITY_SCHEME = "oauth2"
# The major version every service's routes are served under (its routers' prefix).
API_PREFIX = "/v1"
# Published without authentication by every service (NL GOV API Design Rules); not in its own document.
OPENAPI_PATH = API_PREFIX + "/openapi.json"
# A server URL ending in the major version: `/registry/v1`, `/v1`.
_VERSIONED_SERVER = re.compile(r"(/v\d+)/?$")
ANY_TOKEN = "any token"  # noqa: S105 - a kind of access, not a secret
PUBLIC = "public"
# An operation may accept a larger body than the gateway's default (the bulk import): its limit.
MAX_BODY_EXTENSION = "x-max-body-bytes"
# A GET route also answers HEAD (RFC 9110 section 9.3.2).
_ALSO = {"GET": ("HEAD",)}


@dataclass(frozen=True)
class Access:
    """What a route asks of its caller: ``public``, ``any token``, or any one of ``scopes``."""

    kind: str  # PUBLIC, ANY_TOKEN or "scopes"
    scopes: tuple[str, ...] = ()

    def security(self) -> list[dict[str, list[str]]] | None:
        """The OpenAPI security requirement (None: public, no requirement)."""
        if self.kind == PUBLIC:
            return None
        if self.kind == ANY_TOKEN:
            return [{SECURITY_SCHEME: []}]
        return [{SECURITY_SCHEME: [scope]} for scope in self.scopes]

    @classmethod
    def from_security(cls, security: list[dict[str, list[str]]] | None) -> Access:
        if not security:
            return cls(PUBLIC)
        scopes = [scope for requirement in security for scope in requirement.get(SECURITY_SCHEME, [])]
        if not scopes:
            return cls(ANY_TOKEN)
        return cls("scopes", tuple(scopes))


def _dependencies(dependant: Dependant) -> list[Any]:
    calls = []
    for dependency in dependant.dependencies:
        calls.append(dependency.call)
        calls += _dependencies(dependency)
    return calls


def api_routes(app: FastAPI) -> list[Any]:
    """Every API route of the app as FastAPI sees it (included routers' prefixes and dependencies applied)."""
    return [
        context for context in routing.iter_route_contexts(app.routes) if isinstance(context.original_route, APIRoute)
    ]


def route_access(route: Any) -> Access:
    """The access a route declares through its dependencies (its own and its router's)."""
    calls = _dependencies(route.dependant)
    declared = [call for call in calls if isinstance(call, RequiredScopes)]
    if len({call.any_of for call in declared}) > 1:
        raise ValueError(f"{route.path}: declare the scopes once, not {declared}")
    if declared:
        return Access("scopes", tuple(str(scope) for scope in declared[0].any_of))
    if current_principal in calls:
        return Access(ANY_TOKEN)
    return Access(PUBLIC)


def security_scheme(token_url: str) -> dict[str, Any]:
    return {
        "type": "oauth2",
        "description": "OAuth 2.0 client credentials at the gateway (`client_secret_basic` or `private_key_jwt`); "
        "send the access token as `Authorization: Bearer <token>`. Each operation lists the scopes of "
        "which any one is enough.",
        "flows": {"clientCredentials": {"tokenUrl": token_url, "scopes": dict(SCOPES)}},
    }


def apply_security(app: FastAPI, schema: dict[str, Any], token_url: str) -> None:
    """Write each operation's security requirement from its route's declaration."""
    secured = False
    for route in api_routes(app):
        if not route.include_in_schema:
            continue
        access = route_access(route)
        item = schema.get("paths", {}).get(route.path_format, {})
        for method in route.methods:
            operation = item.get(method.lower())
            if operation is None:
                continue
            security = access.security()
            if security is None:
                operation.pop("security", None)
            else:
                operation["security"] = security
                secured = True
    if secured:
        schema.setdefault("components", {}).setdefault("securitySchemes", {})[SECURITY_SCHEME] = security_scheme(
            token_url
        )


def publish_version_in_servers(schema: dict[str, Any], servers: list[dict[str, str]], prefix: str = API_PREFIX) -> None:
    """List ``servers`` (each URL ending in ``prefix``) and make every path relative to them.

    The service still serves ``prefix + path``; only the document says it as server + path.
    """
    for server in servers:
        if not server["url"].rstrip("/").endswith(prefix):
            raise ValueError(f"server {server['url']} does not end in {prefix}")
    paths: dict[str, Any] = {}
    for path, item in schema.get("paths", {}).items():
        if not path.startswith(prefix + "/"):
            raise ValueError(f"{path} is not under {prefix}")
        paths[path.removeprefix(prefix)] = item
    schema["paths"] = paths
    schema["servers"] = servers


def version_prefix(document: dict[str, Any]) -> str:
    """The major version the document's servers end in (``/v1``), which its paths are below; "" if none."""
    prefixes = {
        match.group(1)
        for server in document.get("servers", [])
        if (match := _VERSIONED_SERVER.search(server.get("url", "")))
    }
    if len(prefixes) > 1:
        raise ValueError(f"the servers name more than one version: {sorted(prefixes)}")
    return prefixes.pop() if prefixes else ""


def route_table_from_openapi(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The gateway's rules for one service: path template, method and access, from its OpenAPI.

    The paths are the service's own (``/v1/registrations``): the document's paths below the major
    version its servers end in. Literal paths come before templated ones, so
    ``/v1/registrations/search`` is never taken for ``/v1/registrations/{registrationId}``.
    """
    prefix = version_prefix(document)
    rules: list[dict[str, Any]] = [{"path": OPENAPI_PATH, "methods": {"GET": PUBLIC, "HEAD": PUBLIC}}]
    for relative, item in document.get("paths", {}).items():
        path = prefix + relative
        methods: dict[str, str | list[str]] = {}
        limits: dict[str, int] = {}
        for method, operation in item.items():
            access = Access.from_security(operation.get("security"))
            value: str | list[str] = list(access.scopes) if access.kind == "scopes" else access.kind
            for name in (method.upper(), *_ALSO.get(method.upper(), ())):
                methods.setdefault(name, value)
            if MAX_BODY_EXTENSION in operation:
                limits[method.upper()] = int(operation[MAX_BODY_EXTENSION])
        rule: dict[str, Any] = {"path": path, "methods": dict(sorted(methods.items()))}
        if limits:
            rule["maxBodyBytes"] = limits
        rules.append(rule)
    rules.sort(key=lambda rule: (rule["path"].count("{"), rule["path"]))
    return rules


def markdown_table(tables: dict[str, list[dict[str, Any]]]) -> str:
    """The table of docs/authentication.md: every service, path and method with its scopes."""
    lines = ["| Service | Path | Method | Scope (any of) |", "| --- | --- | --- | --- |"]
    for service, rules in tables.items():
        for rule in sorted(rules, key=lambda r: r["path"]):
            for method, access in rule["methods"].items():
                if method == "HEAD":
                    continue  # GET rules cover HEAD
                if access == PUBLIC:
                    shown = "none (public)"
                elif access == ANY_TOKEN:
                    shown = "any token"
                else:
                    shown = ", ".join(f"`{scope}`" for scope in access)
                lines.append(f"| {service} | `{rule['path']}` | {method} | {shown} |")
    return "\n".join(lines) + "\n"
