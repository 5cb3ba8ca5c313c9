"""GATEWAY_TRUSTED_PROXIES: behind an Ingress the client address comes from X-Forwarded-For, and only then.

The test client connects from 127.0.0.1, so a gateway trusting 127.0.0.1 plays the one behind an
Ingress, and the default gateway (trusting nobody) the one at the edge.
"""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from pydantic import ValidationError

from gateway.config import GatewaySettings
from tests.conftest import assert_problem
from tests.support.stack import start_lab_gateway

PUBLIC = "/registry/v1/openapi.json"  # public: limited per address (the echo server answers it)


@pytest.fixture(scope="module")
def behind_ingress(backend):
    with ExitStack() as exits:
        url, _ = start_lab_gateway(
            exits, backend.urls, trusted_proxies=("127.0.0.1", "10.0.0.0/8"), anonymous_rate_limit="2/minute"
        )
        yield url


@pytest.fixture(scope="module")
def at_the_edge(backend):
    with ExitStack() as exits:
        url, _ = start_lab_gateway(exits, backend.urls, anonymous_rate_limit="2/minute")
        yield url


async def echoed_forwarded_for(stack, http, gateway: str, forwarded_for: str | None) -> str:
    client_id, secret = await stack.register_client(scopes=("registry:read",))
    token = await stack.token(http, client_id, secret, gateway=gateway)
    headers = {"Authorization": f"Bearer {token}"}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    response = await http.get(gateway + "/registry/v1/echo", headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["headers"]["x-forwarded-for"])


async def test_behind_a_trusted_proxy_the_nearest_untrusted_address_is_the_client(stack, http, behind_ingress):
    # The Ingress (10.1.2.3) appended what it saw; the caller's own prepended claim is not believed.
    seen = await echoed_forwarded_for(stack, http, behind_ingress, "6.6.6.6, 198.51.100.7, 10.1.2.3")
    assert seen == "198.51.100.7"
    # No header: the peer itself.
    assert await echoed_forwarded_for(stack, http, behind_ingress, None) == "127.0.0.1"


async def test_at_the_edge_a_callers_forwarded_for_counts_for_nothing(stack, http, at_the_edge):
    assert await echoed_forwarded_for(stack, http, at_the_edge, "198.51.100.7") == "127.0.0.1"


async def test_anonymous_rate_limit_is_per_forwarded_client_behind_a_trusted_proxy(http, behind_ingress):
    first = {"X-Forwarded-For": "198.51.100.1"}
    for _ in range(2):
        assert (await http.get(behind_ingress + PUBLIC, headers=first)).status_code == 200
    refused = await http.get(behind_ingress + PUBLIC, headers=first)
    assert_problem(refused, 429, "too-many-requests")
    assert int(refused.headers["retry-after"]) > 0
    # Another caller behind the same Ingress has its own bucket.
    other = await http.get(behind_ingress + PUBLIC, headers={"X-Forwarded-For": "198.51.100.2"})
    assert other.status_code == 200, other.text


async def test_anonymous_rate_limit_ignores_forwarded_for_at_the_edge(http, at_the_edge):
    for n in range(2):
        response = await http.get(at_the_edge + PUBLIC, headers={"X-Forwarded-For": f"198.51.100.{n}"})
        assert response.status_code == 200
    # A caller cannot reset its bucket by claiming another address.
    assert_problem(
        await http.get(at_the_edge + PUBLIC, headers={"X-Forwarded-For": "198.51.100.99"}), 429, "too-many-requests"
    )


async def test_token_endpoint_limit_is_per_forwarded_client(http, behind_ingress):
    form = {"grant_type": "client_credentials"}
    caller = {"X-Forwarded-For": "203.0.113.5"}
    for _ in range(2):  # unknown client: 401, but counted
        response = await http.post(behind_ingress + "/oauth/token", data=form, auth=("nobody", "x"), headers=caller)
        assert response.status_code == 401, response.text
    limited = await http.post(behind_ingress + "/oauth/token", data=form, auth=("nobody", "x"), headers=caller)
    assert_problem(limited, 429, "too-many-requests")
    other = await http.post(
        behind_ingress + "/oauth/token", data=form, auth=("nobody", "x"), headers={"X-Forwarded-For": "203.0.113.6"}
    )
    assert other.status_code == 401, other.text


def test_setting_reads_a_comma_separated_list_and_refuses_anything_but_addresses(monkeypatch):
    monkeypatch.setenv("GATEWAY_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.10 ,fd00::/8")
    assert GatewaySettings().trusted_proxies == ("10.0.0.0/8", "192.168.1.10", "fd00::/8")
    monkeypatch.delenv("GATEWAY_TRUSTED_PROXIES")
    assert GatewaySettings().trusted_proxies == ()
    for bad in ("*", "ingress.example.org", "10.0.0.0/33"):
        monkeypatch.setenv("GATEWAY_TRUSTED_PROXIES", bad)
        with pytest.raises(ValidationError, match="trusted_proxies"):
            GatewaySettings()
