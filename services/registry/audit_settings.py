"""Settings of the tamper-evident processing log (ADR 0023), mixed into RegistrySettings (REGISTRY_ prefix)."""

from __future__ import annotations

from pydantic_settings import BaseSettings


class AuditSettings(BaseSettings):
    """Mix into the registry's settings, before ServiceSettings (as EventSettings)."""

    # Ed25519 key that signs the checkpoints: a PEM private key, or a 32-byte seed in 64 hex digits.
    # Production refuses this development default (its text is hashed into a seed; never use it).
    audit_signing_key: str = "development-only-audit-signing-key"
    # How often the sealer takes committed records into the hash chain (0 = never; `lmx audit seal`).
    audit_seal_interval_seconds: float = 2.0
    # A signed checkpoint after this many new records, or this many seconds if any record is new.
    audit_checkpoint_every: int = 10_000
    audit_checkpoint_seconds: float = 300.0
