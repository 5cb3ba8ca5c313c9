"""Idempotency-Key for creating registrations: the kit's policy (lmx_common.idempotency) on this table."""

from lmx_common.idempotency import IdempotencyKeys, body_hash, check_key
from services.registry.models import IdempotencyKey

_keys = IdempotencyKeys(IdempotencyKey)
claim = _keys.claim
complete = _keys.complete
release = _keys.release

__all__ = ["body_hash", "check_key", "claim", "complete", "release"]
