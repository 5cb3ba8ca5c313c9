from pydantic import model_validator
from pydantic_settings import SettingsConfigDict

from lmx_common.disclosure import DisclosureSettings
from lmx_common.events import EventSettings
from lmx_common.settings import ServiceSettings, weak_secrets
from lmx_common.version import API_VERSION
from services.registry.audit_settings import AuditSettings
from services.registry.crypto import BsnVault

VERSION = API_VERSION  # one version for all four components (lmx_common/version.py)
# The largest bulk upload: the registry's default limit, and the limit the bulk route declares to the
# gateway (x-max-body-bytes in its OpenAPI, generated into gateway/route_table.json).
MAX_BULK_BODY_BYTES = 32 * 1024 * 1024


class RegistrySettings(AuditSettings, EventSettings, DisclosureSettings, ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REGISTRY_", extra="ignore", frozen=True)

    database_url: str = "sqlite+aiosqlite:///var/registry.db"
    # Keys for the BSN: an HMAC key for the pseudonym (search, deduplication) and a key for the
    # encrypted value. Production refuses these development defaults, and empty, short (< 32 bytes)
    # or identical keys.
    pseudonym_key: str = "development-only-pseudonym-key"
    encryption_key: str = "development-only-encryption-key"
    # While keys rotate (docs/operations.md): the keys replaced, still read until
    # `lmx registry rotate-keys run` has rewritten every stored value; empty otherwise.
    previous_pseudonym_key: str = ""
    previous_encryption_key: str = ""
    # Statistics (lmx_common/disclosure.py, ADR 0027): no count of 1..threshold-1 is published to a
    # caller outside the municipality concerned; counts move by at most max_deviation (the ptable's
    # variance below). The housing service's HOUSING_DISCLOSURE_* must be the same. Anonymised
    # registrations are k-anonymous with k = this threshold (retention.py).
    # Departed registrations are anonymised this many days after the departure date.
    retention_days: int = 730
    # Active registrations are anonymised this many days after their expected end date.
    expired_grace_days: int = 365
    # An anonymised registration whose class stays smaller than k even at the coarsest level is deleted
    # (k-anonymity's suppression). 0: at once, so no anonymised registration is ever in a class below k;
    # more: it is held (kept at that level, unique meanwhile) until others join it or this many days pass.
    anonymise_hold_days: int = 0
    # How often the background job looks for registrations to anonymise (0 = never; use the CLI).
    anonymise_interval_seconds: float = 3600.0
    # The registry's own organisation (OIN): the processing log's organisation for work no request
    # caused (the retention job).
    organisation_oin: str = "00000099000000000000"
    # How long processing-log records are kept (years); see docs/privacy.md: not pruned yet.
    processing_log_retention_years: int = 20
    # Lines and bytes one bulk request may carry; larger files are sent in several requests (the CLI
    # does). Both are checked while the body is read: a 413 at the first line or byte too many.
    max_bulk_lines: int = 10_000
    # Above MAX_BULK_BODY_BYTES the gateway refuses the body before the registry sees it.
    max_bulk_bytes: int = MAX_BULK_BODY_BYTES

    @model_validator(mode="after")
    def _refuse_weak_keys_in_production(self) -> "RegistrySettings":
        if self.environment == "production":
            keys = {"pseudonym_key": self.pseudonym_key, "encryption_key": self.encryption_key}
            if self.previous_pseudonym_key:
                keys["previous_pseudonym_key"] = self.previous_pseudonym_key
            if self.previous_encryption_key:
                keys["previous_encryption_key"] = self.previous_encryption_key
            problems = weak_secrets(keys)
            if problems:
                raise ValueError("refusing to start in production with weak keys: " + "; ".join(problems))
        return self

    def vault(self) -> BsnVault:
        """The BSN's keys: the current ones, and the previous ones while a rotation runs."""
        return BsnVault(
            self.pseudonym_key,
            self.encryption_key,
            (self.previous_pseudonym_key,) if self.previous_pseudonym_key else (),
            (self.previous_encryption_key,) if self.previous_encryption_key else (),
        )
