"""The shared plumbing on its own, without a database or a server: settings, logs, trace context, JWKS caching."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from gateway.config import GatewaySettings
from lmx_common.auth import JwksKeySource
from lmx_common.logging import JsonFormatter
from lmx_common.tracing import child_of, transaction_id
from services.registry.config import RegistrySettings


def test_production_refuses_development_secrets_and_sqlite():
    with pytest.raises(ValidationError, match="development secrets: key_passphrase"):
        GatewaySettings(environment="production", database_url="postgresql+asyncpg://db/gateway")
    secrets = "development secrets: audit_signing_key, cursor_key, encryption_key, pseudonym_key"
    with pytest.raises(ValidationError, match=secrets):
        RegistrySettings(environment="production", database_url="postgresql+asyncpg://db/registry")
    with pytest.raises(ValidationError, match="SQLite"):
        RegistrySettings(
            environment="production",
            pseudonym_key="k1-from-vault-" + "1" * 32,
            encryption_key="k2-from-vault-" + "2" * 32,
            audit_signing_key="k3-from-vault",
            cursor_key="k4-from-vault",
        )
    ok = GatewaySettings(
        environment="production",
        database_url="postgresql+asyncpg://db/gateway",
        key_passphrase="a-real-secret-from-the-vault",
    )
    assert ok.environment == "production"


def test_trace_context_continues_a_valid_trace_and_replaces_an_invalid_one():
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    child = child_of(parent)
    assert child.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert child.span_id != "00f067aa0ba902b7" and len(child.span_id) == 16
    for invalid in (None, "", "garbage", "00-" + "0" * 32 + "-00f067aa0ba902b7-01", "01-abc-def-01"):
        fresh = child_of(invalid)
        assert len(fresh.trace_id) == 32 and fresh.trace_id != "0" * 32
    assert transaction_id("abc-123") == "abc-123"
    assert transaction_id("bad value with spaces") != "bad value with spaces"


def test_json_logs_carry_no_exception_message():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    logger = logging.getLogger("test.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        raise ValueError("BSN 111222333 of Jan Jansen")
    except ValueError:
        logger.exception("failed", extra={"registrationId": "r-1"})
    record = json.loads(stream.getvalue())
    assert record["event"] == "failed" and record["component"] == "test" and record["registrationId"] == "r-1"
    assert record["errorType"] == "ValueError"
    assert "111222333" not in stream.getvalue() and "Jansen" not in stream.getvalue()


async def test_jwks_source_caches_and_refreshes_for_an_unknown_kid():
    calls = []
    keys: dict[str, list[Any]] = {"keys": []}

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, json=keys)

    from tests.support.tokens import new_rsa_key

    private, _ = new_rsa_key()
    import jwt as pyjwt

    jwk = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        source = JwksKeySource(
            "http://issuer/.well-known/jwks.json", client, cache_seconds=300, min_refresh_seconds=0.05
        )
        assert await source.key_for("k1") is None
        assert len(calls) == 1
        keys["keys"] = [jwk | {"kid": "k1", "alg": "RS256"}]
        assert await source.key_for("k1") is not None  # unknown kid: refreshed (after the minimum interval)
        assert len(calls) == 2
        for _ in range(5):
            assert await source.key_for("k1") is not None
        assert len(calls) == 2  # served from the cache
