from pydantic_settings import SettingsConfigDict

from lmx_common.events import EventSettings
from lmx_common.settings import ServiceSettings

VERSION = "0.2.0"
# The largest bulk upload: the registry's default limit, and the limit the bulk route declares to the
# gateway (x-max-body-bytes in its OpenAPI, generated into gateway/route_table.json).
MAX_BULK_BODY_BYTES = 32 * 1024 * 1024


class RegistrySettings(EventSettings, ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REGISTRY_", extra="ignore", frozen=True)

    database_url: str = "sqlite+aiosqlite:///var/registry.db"
    # Keys for the BSN: an HMAC key for the pseudonym (search, deduplication) and a key for the
    # encrypted value. Production refuses these development defaults.
    pseudonym_key: str = "development-only-pseudonym-key"
    encryption_key: str = "development-only-encryption-key"
    # Statistics: counts 1..threshold-1 are suppressed for callers outside the municipality concerned.
    suppression_threshold: int = 5
    # Departed registrations are anonymised this many days after the departure date.
    retention_days: int = 730
    # How often the background job looks for registrations to anonymise (0 = never; use the CLI).
    anonymise_interval_seconds: float = 3600.0
    # Lines and bytes one bulk request may carry; larger files are sent in several requests (the CLI
    # does). Both are checked while the body is read: a 413 at the first line or byte too many.
    max_bulk_lines: int = 10_000
    # Above MAX_BULK_BODY_BYTES the gateway refuses the body before the registry sees it.
    max_bulk_bytes: int = MAX_BULK_BODY_BYTES
