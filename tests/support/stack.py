"""The whole stack in-process for API tests: gateway and services as real uvicorn servers."""

from __future__ import annotations

import json
import tempfile
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gateway.clients import NewClient, add_client
from gateway.config import GatewaySettings
from gateway.main import create_app as create_gateway
from gateway.routes import TABLE_FILE
from lmx_common.db import Database
from services.certification.config import CertificationSettings
from services.certification.main import create_app as create_certification
from services.housing.config import HousingSettings
from services.housing.main import create_app as create_housing
from services.registry.config import RegistrySettings
from services.registry.main import create_app as create_registry
from tests.support.housing import FAST_HOUSING, register_housing_client
from tests.support.servers import echo_app, free_port, garbage_server, serve

ISSUER_PLACEHOLDER = "http://127.0.0.1:{port}"
# Webhook retries, expiry and polling in fractions of a second, so the event tests stay fast.
FAST_EVENTS: dict[str, Any] = {
    "event_poll_seconds": 0.1,
    "webhook_backoff_seconds": 0.2,
    "webhook_backoff_max_seconds": 0.5,
    "webhook_max_attempts": 3,
    "webhook_timeout_seconds": 2.0,
    "webhook_lease_seconds": 5.0,
    "expiry_interval_seconds": 0.3,
    # The tests' receivers listen on 127.0.0.1, which callback URLs may not name unless allowed.
    "webhook_allowed_hosts": ("127.0.0.1",),
}


@dataclass
class Stack:
    gateway: str
    registry: str
    certification: str
    housing: str
    database_urls: dict[str, str]
    gateway_settings: GatewaySettings
    extra: dict[str, Any] = field(default_factory=dict)

    async def register_client(
        self,
        org_type: str = "municipality",
        scopes: tuple[str, ...] = ("registry:read",),
        municipality_code: str | None = "GM1655",
        province_code: str | None = None,
        public_key_pem: str | None = None,
    ) -> tuple[str, str | None]:
        client_id = f"test-{uuid.uuid4().hex[:12]}"
        if org_type != "municipality" and municipality_code == "GM1655":
            municipality_code = None
        new = NewClient(
            client_id,
            "Test client",
            "00000099" + uuid.uuid4().int.__str__()[:12].zfill(12),
            org_type,
            scopes,
            municipality_code,
            province_code,
            public_key_pem,
        )
        database = Database(self.database_urls["gateway"])
        try:
            async with database.sessionmaker() as session, session.begin():
                _, secret = await add_client(session, new, with_secret=public_key_pem is None)
        finally:
            await database.dispose()
        return client_id, secret

    async def token(
        self,
        http: httpx.AsyncClient,
        client_id: str,
        secret: str | None,
        scope: str | None = None,
        gateway: str | None = None,
    ) -> str:
        data = {"grant_type": "client_credentials"} | ({"scope": scope} if scope else {})
        response = await http.post(
            (gateway or self.gateway) + "/oauth/token", data=data, auth=(client_id, secret or "")
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    async def client_token(self, http: httpx.AsyncClient, **kwargs: Any) -> str:
        client_id, secret = await self.register_client(**kwargs)
        return await self.token(http, client_id, secret)


def gateway_settings(urls: dict[str, str], port: int, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "database_url": urls["gateway"],
        "issuer": ISSUER_PLACEHOLDER.format(port=port),
        "rate_limit": "100000/minute",
        "anonymous_rate_limit": "100000/minute",
    }
    values.update(overrides)
    return GatewaySettings(**values)


def start_stack(exits: ExitStack, urls: dict[str, str]) -> Stack:
    gateway_port = free_port()
    issuer = ISSUER_PLACEHOLDER.format(port=gateway_port)
    common: dict[str, Any] = {"jwks_url": issuer + "/.well-known/jwks.json", "token_issuer": issuer}
    registry = exits.enter_context(
        serve(create_registry(RegistrySettings(database_url=urls["registry"], **common, **FAST_EVENTS)))
    )
    certification = exits.enter_context(
        serve(create_certification(CertificationSettings(database_url=urls["certification"], **common, **FAST_EVENTS)))
    )
    # The housing service calls the registry and certification through the gateway with its own client;
    # it fetches its token lazily, so the gateway may start after it.
    housing_id, housing_secret = register_housing_client(urls["gateway"])
    housing_settings = HousingSettings(
        database_url=urls["housing"],
        **common,
        gateway_url=issuer,
        client_id=housing_id,
        client_secret=housing_secret,
        **FAST_HOUSING,
    )
    housing = exits.enter_context(serve(create_housing(housing_settings)))
    settings = gateway_settings(
        urls, gateway_port, registry_url=registry, certification_url=certification, housing_url=housing
    )
    gateway = exits.enter_context(serve(create_gateway(settings), port=gateway_port))
    return Stack(gateway, registry, certification, housing, urls, settings)


def lab_route_table(exits: ExitStack) -> Path:
    """The generated route table plus the lab upstreams' own paths (`/v1/echo`, `/v1/slow`, …)."""
    table = json.loads(TABLE_FILE.read_text())
    anything = {"path": "/v1/{anything}", "methods": {"GET": ["registry:read"], "HEAD": ["registry:read"]}}
    for service in ("registry", "housing"):
        table["services"][service].append(anything)
    folder = Path(exits.enter_context(tempfile.TemporaryDirectory()))
    path = folder / "lab-route-table.json"
    path.write_text(json.dumps(table))
    return path


def start_lab_gateway(exits: ExitStack, urls: dict[str, str], **overrides: Any) -> tuple[str, str]:
    """A gateway whose registry is an echo server, housing answers garbage, certification is down.

    Returns (gateway URL, echo URL).
    """
    echo = exits.enter_context(serve(echo_app()))
    garbage = exits.enter_context(garbage_server())
    port = free_port()
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    values: dict[str, Any] = {
        "route_table_file": lab_route_table(exits),
        "registry_url": echo,
        "housing_url": garbage,
        "certification_url": closed,
        "connect_timeout": 1.0,
        "read_timeout": 1.0,
    }
    values.update(overrides)
    settings = gateway_settings(urls, port, **values)
    url = exits.enter_context(serve(create_gateway(settings), port=port))
    return url, echo
