"""Bodies of the processing log's checkpoints and its export (audit_router.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from lmx_common.pagination import Page
from lmx_common.schemas import CamelModel


class Checkpoint(CamelModel):
    """A signed tree head: the chain's head hash after ``count`` records (ADR 0023)."""

    count: int = Field(description="Records in the chain at this checkpoint (seq 1..count).")
    head_hash: str = Field(description="SHA-256 (hex) of the record at seq = count, which chains all before it.")
    signed_at: datetime
    key_id: str = Field(description="The key's id (kid) in GET /processing-log/checkpoints/public-key.")
    signature: str = Field(
        description="Ed25519 over 'lmx-processing-log-checkpoint/1\\n{count}\\n{headHash}\\n{signedAt}\\n' "
        "(signedAt in ISO 8601 with microseconds and +00:00), base64."
    )


class CheckpointPage(Page[Checkpoint]):
    """Checkpoints, oldest first. Keep a copy: `lmx audit verify --checkpoints` checks the database against it."""


class PublicKeySet(BaseModel):
    """The checkpoints' public key as a JWK set (Ed25519, RFC 8037)."""

    keys: list[dict[str, str]]


class LogboekOperation(BaseModel):
    """The caller's own operation (Logboek Dataverwerkingen `foreign_operation`)."""

    trace_id: str
    span_id: str
    entity: str = Field(description="The calling organisation: urn:oin:<OIN>.")


class LogboekRecord(BaseModel):
    """One processing in the fields of Logboek Dataverwerkingen (the standard's own names)."""

    trace_id: str
    span_id: str | None
    parent_span_id: str | None
    name: str
    status_code: str
    start_time: int = Field(description="Milliseconds since the Unix epoch.")
    end_time: int = Field(description="Milliseconds since the Unix epoch.")
    foreign_operation: LogboekOperation | None
    resource: dict[str, Any]
    attributes: dict[str, Any]


class LogboekPage(Page[LogboekRecord]):
    """A data subject's processing-log records in Logboek shape, oldest first."""
