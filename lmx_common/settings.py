"""Settings shared by every component; each component subclasses with its own env prefix."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_MARKER = "development-only"
# The shortest secret key production accepts (bytes, UTF-8): 256 bits of a random key's worth.
MIN_SECRET_BYTES = 32


def weak_secrets(secrets: Mapping[str, str]) -> list[str]:
    """What production refuses in a set of secret keys (by setting name): an empty one, one shorter
    than MIN_SECRET_BYTES, or two that are the same (a key must serve one purpose only)."""
    problems = []
    for name, value in secrets.items():
        if not value:
            problems.append(f"{name} is empty")
        elif len(value.encode()) < MIN_SECRET_BYTES:
            problems.append(f"{name} is shorter than {MIN_SECRET_BYTES} bytes")
    names = sorted(secrets)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            if secrets[first] and secrets[first] == secrets[second]:
                problems.append(f"{first} and {second} are the same")
    return problems


class CommonSettings(BaseSettings):
    """Settings every process has. Subclasses set `env_prefix` (GATEWAY_, REGISTRY_, ...)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    environment: Literal["development", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///var/component.db"
    log_level: str = "INFO"
    # Maximum length of an Authorization header we are willing to parse (bytes).
    max_authorization_header_bytes: int = 8192
    # Prometheus metrics on a port of their own (GET /metrics), never through the API's port or the
    # gateway; unset (the default): not served. metrics_host: the address it listens on (0.0.0.0 in a pod).
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    # On SIGTERM: readiness answers 503 at once, requests are still accepted for this long (so a load
    # balancer sees it and stops sending), then no new connections and the requests in flight get at
    # most shutdown_timeout_seconds to finish (uvicorn's graceful shutdown, unless its
    # --timeout-graceful-shutdown is given). See docs/operations.md and ADR 0030.
    shutdown_delay_seconds: float = 0.0
    shutdown_timeout_seconds: float = 30.0  # the gateway's read timeout: a proxied call may take that long

    def development_secrets(self) -> list[str]:
        """Names of settings that still hold a development default."""
        found = []
        for name, value in self.model_dump().items():
            if isinstance(value, str) and DEVELOPMENT_MARKER in value:
                found.append(name)
        return found

    @model_validator(mode="after")
    def _refuse_development_secrets_in_production(self) -> CommonSettings:
        if self.environment == "production":
            leaked = self.development_secrets()
            if leaked:
                raise ValueError(
                    "refusing to start in production with development secrets: " + ", ".join(sorted(leaked))
                )
            if self.database_url.startswith("sqlite"):
                raise ValueError("refusing to start in production on SQLite; set a PostgreSQL database_url")
        return self


class ServiceSettings(CommonSettings):
    """Settings of a resource service (registry, certification, housing)."""

    jwks_url: str = "http://127.0.0.1:8000/.well-known/jwks.json"
    token_issuer: str = "http://127.0.0.1:8000"  # noqa: S105 - not a secret
    token_audience: str = "urn:lmx:api"  # noqa: S105 - not a secret
    jwks_cache_seconds: int = 300
    # Minimum seconds between two JWKS refreshes triggered by an unknown kid.
    jwks_min_refresh_seconds: float = 1.0
    token_leeway_seconds: int = 30
    # Signs the list cursors (HMAC-SHA256), so a cursor this service did not return is refused (400).
    # Every replica of a service needs the same key; changing it invalidates the cursors in circulation.
    cursor_key: str = "development-only-cursor-key"
    # The request head a service accepts: a bit above the gateway's 16 KiB / 100, because the gateway
    # adds trace and forwarding headers. Over either limit: 431 request-header-fields-too-large.
    max_header_bytes: int = 20 * 1024
    max_header_count: int = 110
