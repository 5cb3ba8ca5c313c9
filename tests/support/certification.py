"""Builders for certification tests: clients of each party type and certificates in any status."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import httpx

CERTIFIER_SCOPES = ("certification:read", "certification:write", "reports:read", "events:read")

# A path from `applied` to each status, through allowed transitions only.
PATH_TO: dict[str, list[str]] = {
    "applied": [],
    "provisional": ["provisional"],
    "granted": ["granted"],
    "refused": ["refused"],
    "suspended": ["granted", "suspended"],
    "revoked": ["granted", "revoked"],
    "ended": ["granted", "ended"],
    "expired": ["granted", "expired"],
}


def kvk() -> str:
    return f"{random.randint(10_000_000, 99_999_999)}"


@dataclass
class Api:
    """Calls one base URL (a service directly, or the gateway with a prefix) with a bearer token."""

    http: httpx.AsyncClient
    base: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.get(self.base + path, headers=self.headers | kwargs.pop("headers", {}), **kwargs)

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return await self.http.post(
            self.base + path, json=body, headers=self.headers | kwargs.pop("headers", {}), **kwargs
        )

    async def delete(self, path: str) -> httpx.Response:
        return await self.http.delete(self.base + path, headers=self.headers)


_TOKENS: dict[tuple[Any, ...], tuple[float, str]] = {}


async def api(
    stack: Any, http: httpx.AsyncClient, base: str | None = None, *, fresh: bool = False, **client: Any
) -> Api:
    """A client of this kind; the same one (token cached for a while) unless ``fresh``."""
    key = (id(stack), tuple(sorted((k, str(v)) for k, v in client.items())))
    cached = _TOKENS.get(key)
    if fresh or cached is None or time.monotonic() - cached[0] > 200:
        token = await stack.client_token(http, **client)
        if not fresh:
            _TOKENS[key] = (time.monotonic(), token)
    else:
        token = cached[1]
    return Api(http, base or stack.certification, token)


async def certifier(stack: Any, http: httpx.AsyncClient, base: str | None = None, *, fresh: bool = False) -> Api:
    return await api(stack, http, base, fresh=fresh, org_type="certifier", scopes=CERTIFIER_SCOPES)


async def make_organisation(certifier: Api, kinds: tuple[str, ...] = ("employment-agency",)) -> str:
    number = kvk()
    response = await certifier.post(
        "/v1/organisations", {"kvkNumber": number, "name": f"Test B.V. {number}", "kinds": list(kinds)}
    )
    assert response.status_code == 201, response.text
    return number


async def make_certificate(
    certifier: Api, status: str = "applied", scheme: str = "wtta-admission", **overrides: Any
) -> dict[str, Any]:
    """A certificate of a new organisation, moved to ``status`` through allowed transitions."""
    number = overrides.pop("kvkNumber", None) or await make_organisation(
        certifier, ("landlord",) if scheme == "snf-housing" else ("employment-agency",)
    )
    body = {"kvkNumber": number, "scheme": scheme, "validFrom": "2026-01-01", "validUntil": "2030-12-31"} | overrides
    response = await certifier.post("/v1/certificates", body)
    assert response.status_code == 201, response.text
    certificate: dict[str, Any] = response.json()
    for step in PATH_TO[status]:
        changed = await certifier.post(
            f"/v1/certificates/{certificate['id']}/status-changes", {"status": step, "reason": f"to {step}"}
        )
        assert changed.status_code == 201, changed.text
    return certificate
