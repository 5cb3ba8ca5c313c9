"""Bodies of the processing log's checkpoints and its export (audit_router.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lmx_common.pagination import Page, page_example
from lmx_common.schemas import CamelModel, examples

KEY_ID_EXAMPLE = "d75a980182b10ab7"
CHECKPOINT_EXAMPLE: dict[str, Any] = {
    "count": 18342,
    "headHash": "9f2b6c1e4a7d3f8b0c5e2a9d6b1f4e7a3c8d0b5e2f9a6c1d4b7e0a3f8c5d2e9b",
    "signedAt": "2026-03-01T10:00:00.000412+00:00",
    "keyId": KEY_ID_EXAMPLE,
    "signature": "8FM32Ui4XFguv/4TRxqacUBvyP2Q2WppLaoRsh+UVds9eT/ou+VzLK/IsT2FM18+q3M7+XwdXV0scyqqKrfRKQ==",
}
LOGBOEK_RECORD_EXAMPLE: dict[str, Any] = {
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "span_id": "00f067aa0ba902b7",
    "parent_span_id": "b7ad6b7169203331",
    "name": "registry.create",
    "status_code": "STATUS_CODE_OK",
    "start_time": 1772356443488,
    "end_time": 1772356443512,
    "foreign_operation": {
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "span_id": "53995c3f42cd8ad8",
        "entity": "urn:oin:00000099000000900758",
    },
    "resource": {"attributes": {"service.name": "lmx-registry", "service.version": "0.3.0"}},
    "attributes": {
        "dpl.core.processing_activity_id": "urn:lmx:processing-activity:lmx-information-point",
        "dpl.core.data_subject_id": "6f1c2b3a-8d4e-4f5a-9b6c-7d8e9f0a1b2c",
        "dpl.core.data_subject_id_type": "urn:lmx:registration-id",
        "lmx.organisation_oin": "00000099000000900758",
        "lmx.client_id": "mip-west-brabant",
        "lmx.transaction_id": "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f",
        "lmx.chain.seq": 18342,
        "lmx.chain.hash": "9f2b6c1e4a7d3f8b0c5e2a9d6b1f4e7a3c8d0b5e2f9a6c1d4b7e0a3f8c5d2e9b",
    },
}


class Checkpoint(CamelModel):
    """A signed tree head: the chain's head hash after ``count`` records (ADR 0023)."""

    model_config = ConfigDict(json_schema_extra=examples(CHECKPOINT_EXAMPLE))

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

    model_config = ConfigDict(
        json_schema_extra=examples(page_example("/registry/v1/processing-log/checkpoints", CHECKPOINT_EXAMPLE))
    )


class PublicKeySet(BaseModel):
    """The checkpoints' public key as a JWK set (Ed25519, RFC 8037)."""

    model_config = ConfigDict(
        json_schema_extra=examples(
            {
                "keys": [
                    {
                        "kty": "OKP",
                        "crv": "Ed25519",
                        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                        "kid": KEY_ID_EXAMPLE,
                        "alg": "EdDSA",
                        "use": "sig",
                    }
                ]
            }
        )
    )

    keys: list[dict[str, str]]


class LogboekOperation(BaseModel):
    """The caller's own operation (Logboek Dataverwerkingen `foreign_operation`)."""

    trace_id: str
    span_id: str
    entity: str = Field(description="The calling organisation: urn:oin:<OIN>.")


class LogboekRecord(BaseModel):
    """One processing in the fields of Logboek Dataverwerkingen (the standard's own names)."""

    model_config = ConfigDict(json_schema_extra=examples(LOGBOEK_RECORD_EXAMPLE))

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

    model_config = ConfigDict(
        json_schema_extra=examples(page_example("/registry/v1/processing-log/export", LOGBOEK_RECORD_EXAMPLE))
    )
