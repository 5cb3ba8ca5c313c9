from pydantic_settings import SettingsConfigDict

from lmx_common.events import EventSettings
from lmx_common.settings import ServiceSettings

VERSION = "0.2.0"


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
    # The registry's own organisation (OIN): the processing log's organisation for work no request
    # caused (the retention job).
    organisation_oin: str = "00000099000000000000"
    # How long processing-log records are kept (years); see docs/privacy.md: not pruned yet.
    processing_log_retention_years: int = 20
    # Lines one bulk request may carry; larger files are sent in several requests (the CLI does).
    max_bulk_lines: int = 10_000
