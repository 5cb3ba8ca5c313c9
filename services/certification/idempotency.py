"""Idempotency-Key for the creating POSTs: the kit's policy (lmx_common.idempotency) on this table."""

from lmx_common.idempotency import IdempotencyKeys
from services.certification.models import IdempotencyKey

keys = IdempotencyKeys(IdempotencyKey)
