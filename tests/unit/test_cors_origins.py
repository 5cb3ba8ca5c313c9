"""Origin matching for CORS (gateway/cors.py): exact scheme, host and port; `:*` only widens the port."""

from __future__ import annotations

import pytest

from gateway.config import GatewaySettings
from gateway.cors import OriginPolicy

DEV = OriginPolicy.parse("http://localhost:*,http://127.0.0.1:*,https://portal.example.nl")


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:3000",
        "http://localhost",
        "http://127.0.0.1:8080",
        "https://portal.example.nl",
        "HTTPS://Portal.Example.NL",
        "https://portal.example.nl:443",
    ],
)
def test_allowed(origin: str) -> None:
    assert DEV.allows(origin)


@pytest.mark.parametrize(
    "origin",
    [
        "null",
        "",
        "http://localhost.evil.example:3000",
        "http://evil.example?http://localhost:3000",
        "http://localhost:3000.evil.example",
        "http://localhost:3000/",
        "http://user@localhost:3000",
        "https://localhost:3000",  # another scheme
        "http://127.0.0.2:80",
        "https://portal.example.nl:8443",
        "http://portal.example.nl",
        "https://evilportal.example.nl",
        "https://portal.example.nl.evil.example",
        "http://localhost:99999",
        "http://localhost:*",
        "http://localhost\r\n:3000",
    ],
)
def test_refused(origin: str) -> None:
    assert not DEV.allows(origin)


def test_bad_setting_is_refused() -> None:
    for bad in ("localhost:3000", "http://*.example.nl", "http://localhost:3000:*", "ftp://x"):
        with pytest.raises(ValueError):
            OriginPolicy.parse(bad)


def test_defaults_per_environment() -> None:
    assert OriginPolicy.parse(GatewaySettings().cors_origin_list()).allows("http://localhost:5173")
    production = GatewaySettings(
        environment="production",
        database_url="postgresql+asyncpg://x/y",
        key_passphrase="a-production-passphrase-of-enough-length",
    )
    assert not OriginPolicy.parse(production.cors_origin_list())
    assert OriginPolicy.parse(GatewaySettings(cors_origins="").cors_origin_list()) == OriginPolicy.parse("")
