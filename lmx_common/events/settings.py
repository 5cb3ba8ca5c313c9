"""The event settings a service mixes into its own (``<P>_EVENT_…``, ``<P>_WEBHOOK_…``)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import field_validator
from pydantic_settings import BaseSettings, NoDecode


class EventSettings(BaseSettings):
    """Mix into a service's settings (before ServiceSettings) to tune the worker by environment."""

    # How often the worker looks for new events and due deliveries.
    event_poll_seconds: float = 1.0
    # Attempts before a delivery is dead-lettered; waits grow base * 2^(attempt-1), capped.
    webhook_max_attempts: int = 8
    webhook_backoff_seconds: float = 5.0
    webhook_backoff_max_seconds: float = 3600.0
    # One attempt's HTTP timeout; must stay below the lease.
    webhook_timeout_seconds: float = 10.0
    webhook_lease_seconds: float = 60.0
    webhook_batch_size: int = 50
    webhook_concurrency: int = 10
    # Refuse http:// callback URLs (on in production).
    webhook_require_https: bool = False
    # Callback hosts exempt from the public-address rule (docs/events.md): host names, IP addresses
    # or networks (CIDR), comma-separated in the environment. Empty by default, in every environment:
    # for local receivers in development and tests (e.g. 127.0.0.1), never needed for real subscribers.
    webhook_allowed_hosts: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator("webhook_allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value
