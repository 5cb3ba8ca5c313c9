from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any

from pydantic import field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from lmx_common.settings import CommonSettings
from lmx_common.version import API_VERSION

VERSION = API_VERSION  # one version for all four components (lmx_common/version.py)
DEVELOPMENT_CORS_ORIGINS = "http://localhost:*,http://127.0.0.1:*"


class GatewaySettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", frozen=True)

    database_url: str = "sqlite+aiosqlite:///var/gateway.db"
    # The public base URL; the `iss` of every token and the base of the token endpoint.
    issuer: str = "http://127.0.0.1:8000"
    token_audience: str = "urn:lmx:api"  # noqa: S105 - not a secret
    token_ttl_seconds: int = 300
    token_leeway_seconds: int = 30
    # How long the gateway trusts its cached copy of the published keys.
    key_cache_seconds: float = 60.0
    # Longest lifetime we accept for a private_key_jwt client assertion.
    max_assertion_lifetime_seconds: int = 300
    # Encrypts the signing keys at rest (PKCS#8). Production refuses the development default.
    key_passphrase: str = "development-only-key-passphrase"  # noqa: S105 - refused in production

    registry_url: str = "http://127.0.0.1:8001"
    certification_url: str = "http://127.0.0.1:8002"
    housing_url: str = "http://127.0.0.1:8003"
    connect_timeout: float = 2.0
    read_timeout: float = 30.0
    # Per service: each has its own pool, so a stalled one cannot take the connections of the others.
    upstream_pool_size: int = 100
    # Longest wait for a free connection of a service's pool; then 503 with Retry-After (ADR 0022).
    upstream_queue_timeout: float = 2.0
    # Consecutive failures (no answer, timeouts, no free connection) after which a service's circuit
    # opens: 503 at once for the cool-down, then one probe call decides.
    breaker_failures: int = 5
    breaker_cooldown_seconds: float = 10.0

    # The route and scope table; default the one generated from the services (gateway/route_table.json).
    route_table_file: Path | None = None

    # Largest request body of a proxied call; a route in the table may allow more (the bulk import: 32 MiB).
    max_body_bytes: int = 1024 * 1024
    # Request line and headers, checked before anything else; over: 414 / 431 (problem+json).
    max_url_bytes: int = 8 * 1024
    max_header_bytes: int = 16 * 1024
    max_header_count: int = 100
    # Client secrets verified at once (argon2 in its own threads) and the longest wait for a turn;
    # over: 503 `temporarily_unavailable` with Retry-After from the token endpoint.
    secret_verify_concurrency: int = 1
    secret_verify_queue_timeout: float = 2.0
    # Per client; `limits` notation, e.g. "600/minute" or "50/second".
    rate_limit: str = "1200/minute"
    # Per remote address, for unauthenticated calls (token endpoint, public documents).
    anonymous_rate_limit: str = "300/minute"
    redis_url: str | None = None
    # The reverse proxies in front of the gateway (an Ingress controller, a load balancer): addresses or
    # networks (CIDR), comma-separated in the environment. A request whose TCP peer is on this list has
    # its client address (the anonymous rate limits, the logs, the X-Forwarded-For the services get) taken
    # from X-Forwarded-For: the nearest address not on the list; X-Forwarded-Proto sets the scheme.
    # Empty (the default): the TCP peer is the client and X-Forwarded-* from callers count for nothing.
    # deploy/README.md ("Client addresses behind an Ingress"), ADR 0032.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    # Origins whose pages may call the API from a browser (CORS), comma-separated: exact origins
    # (`https://portal.example.nl`) or any port of one host (`http://localhost:*`). Unset: in development
    # localhost and 127.0.0.1 on any port, in production none (gateway/cors.py, ADR 0025).
    cors_origins: str | None = None

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses_or_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            # "*" (trust every peer) would let any caller choose its own rate-limit bucket: refused.
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxies: {entry!r} is not an IP address or network (CIDR)") from None
        return value

    def cors_origin_list(self) -> str:
        if self.cors_origins is not None:
            return self.cors_origins
        return "" if self.environment == "production" else DEVELOPMENT_CORS_ORIGINS

    @property
    def token_endpoint(self) -> str:
        return self.issuer.rstrip("/") + "/oauth/token"

    def upstreams(self) -> dict[str, str]:
        return {
            "registry": self.registry_url.rstrip("/"),
            "certification": self.certification_url.rstrip("/"),
            "housing": self.housing_url.rstrip("/"),
        }
