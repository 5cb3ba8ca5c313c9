"""The tamper-evident processing log (ADR 0023): a hash chain sealed after commit, signed checkpoints,
and the verification that finds an edited, deleted, inserted or reordered record.

- The request path writes a record and nothing more (processing_log.record): no hashing, no lock.
- :func:`seal` runs in its own short transaction (the registry's periodic job, the checkpoints
  endpoint, ``lmx audit seal``). Its first statement updates the single row of
  ``processing_log_chain``, which serialises sealers (row lock on PostgreSQL, the write lock on
  SQLite) as the event sequencer does (ADR 0010). Holding it, it takes the committed records
  without a position, oldest id first, gives them ``seq = last_seq + 1, + 2, …``,
  ``prev_hash`` (the hash before) and ``hash = SHA-256(prev_hash || canonical(record))``, and
  writes a signed checkpoint when one is due. An uncommitted record is invisible to it and is
  sealed after it commits, further down the chain: the chain is in commit order, never forked.
- :func:`verify` walks the chain by ``seq`` and checks every link, every checkpoint's signature
  and that each checkpoint's head and count are the chain's.

Like retention.py, this job keeps its few queries here rather than in repository.py.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import BigInteger, String, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.db import Database
from lmx_common.jobs import periodic
from services.registry.audit_settings import AuditSettings
from services.registry.models import ProcessingLogChain, ProcessingLogCheckpoint, ProcessingLogRecord

logger = logging.getLogger("lmx.registry.audit")

GENESIS = "0" * 64  # prev_hash of the first record
CHAIN_VERSION = "lmx-processing-log/1"
CHECKPOINT_CONTEXT = "lmx-processing-log-checkpoint/1"
# The record's fields in the hash, in this order (the canonical form). A new column of the log that
# must be protected goes here, with a new CHAIN_VERSION for the records sealed from then on.
CHAIN_FIELDS: tuple[str, ...] = (
    "id",
    "registration_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "foreign_span_id",
    "transaction_id",
    "activity",
    "action",
    "organisation_oin",
    "client_id",
    "status_code",
    "started_at",
    "occurred_at",
)
_COLUMNS = [getattr(ProcessingLogRecord, name) for name in CHAIN_FIELDS]
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


# Canonical form and hashes.


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


def canonical(seq: int, values: Sequence[Any]) -> bytes:
    """The record as hashed: a compact JSON array of the version, its position and CHAIN_FIELDS."""
    return json.dumps(
        [CHAIN_VERSION, seq, *(_plain(v) for v in values)], separators=(",", ":"), ensure_ascii=False
    ).encode()


def record_hash(prev_hash: str, seq: int, values: Sequence[Any]) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical(seq, values)).hexdigest()


def checkpoint_message(seq: int, head_hash: str, signed_at: datetime) -> bytes:
    """What a checkpoint's signature covers: the count, the head hash and the time."""
    return f"{CHECKPOINT_CONTEXT}\n{seq}\n{head_hash}\n{_plain(signed_at)}\n".encode()


# The signing key.


@dataclass(frozen=True)
class AuditKey:
    """The checkpoints' Ed25519 key: the private part only where checkpoints are signed."""

    public: Ed25519PublicKey
    private: Ed25519PrivateKey | None = None

    @classmethod
    def from_setting(cls, value: str) -> AuditKey:
        """A PEM private key, a 32-byte seed in hex, or (development) any text, hashed into a seed."""
        value = value.strip()
        if value.startswith("-----BEGIN"):
            loaded = serialization.load_pem_private_key(value.encode(), password=None)
            if not isinstance(loaded, Ed25519PrivateKey):
                raise ValueError("REGISTRY_AUDIT_SIGNING_KEY must be an Ed25519 private key")
            private = loaded
        elif _HEX64.match(value.lower()):
            private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(value))
        else:
            private = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(value.encode()).digest())
        return cls(private.public_key(), private)

    @classmethod
    def from_public(cls, value: str) -> AuditKey:
        """A published public key: PEM, or the JWK of ``GET /processing-log/checkpoints/public-key``."""
        value = value.strip()
        if value.startswith("{"):
            jwk = json.loads(value)
            jwk = jwk["keys"][0] if "keys" in jwk else jwk
            if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
                raise ValueError("not an Ed25519 JWK")
            raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
            return cls(Ed25519PublicKey.from_public_bytes(raw))
        loaded = serialization.load_pem_public_key(value.encode())
        if not isinstance(loaded, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return cls(loaded)

    @property
    def raw_public(self) -> bytes:
        return self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.raw_public).hexdigest()[:16]

    def jwk(self) -> dict[str, str]:
        x = base64.urlsafe_b64encode(self.raw_public).rstrip(b"=").decode()
        return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": self.key_id, "alg": "EdDSA", "use": "sig"}

    def public_pem(self) -> str:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def sign(self, message: bytes) -> str:
        if self.private is None:
            raise ValueError("this key has no private part")
        return base64.b64encode(self.private.sign(message)).decode()

    def verifies(self, message: bytes, signature: str) -> bool:
        try:
            self.public.verify(base64.b64decode(signature, validate=True), message)
        except (InvalidSignature, ValueError):
            return False
        return True


# Sealing.


@dataclass(frozen=True)
class SealResult:
    sealed: int
    checkpoint: int | None  # the count of a checkpoint written now
    more: bool  # a full batch: more records may wait


async def seal(
    session: AsyncSession,
    key: AuditKey,
    *,
    every: int,
    seconds: float,
    batch: int = 10_000,
    force_checkpoint: bool = False,
) -> SealResult:
    """Seal committed records into the chain, and sign a checkpoint when one is due.

    Run in its own transaction and commit right after (see the module docstring). A checkpoint is
    due when records are past the last one and ``every`` of them are, or ``seconds`` have passed,
    or there has been none, or ``force_checkpoint``."""
    chain = ProcessingLogChain
    now = datetime.now(UTC)
    # Without the lock first: most rounds find nothing to do and should not write.
    state = (await session.execute(select(chain.last_seq, chain.checkpoint_seq, chain.checkpoint_at))).one()
    unsealed = (
        await session.execute(select(ProcessingLogRecord.id).where(ProcessingLogRecord.seq.is_(None)).limit(1))
    ).first()
    if unsealed is None and not _checkpoint_due(*state, now=now, every=every, seconds=seconds, force=force_checkpoint):
        return SealResult(0, None, False)

    await session.execute(update(chain).where(chain.id == 1).values(last_seq=chain.last_seq))  # the lock
    last_seq, head, checkpoint_seq, checkpoint_at = (
        await session.execute(select(chain.last_seq, chain.head_hash, chain.checkpoint_seq, chain.checkpoint_at))
    ).one()
    pending = (
        await session.execute(
            select(*_COLUMNS).where(ProcessingLogRecord.seq.is_(None)).order_by(ProcessingLogRecord.id).limit(batch)
        )
    ).all()
    # Hashing thousands of records is CPU work: off the event loop, so the registry keeps answering.
    sealed, last_seq, head = await asyncio.to_thread(_chain, pending, last_seq, head)
    if sealed:
        await _write_seals(session, sealed)
    head_values: dict[str, Any] = {"last_seq": last_seq, "head_hash": head}
    written = None
    if _checkpoint_due(
        last_seq, checkpoint_seq, checkpoint_at, now=now, every=every, seconds=seconds, force=force_checkpoint
    ):
        signed_at = datetime.now(UTC)
        session.add(
            ProcessingLogCheckpoint(
                seq=last_seq,
                head_hash=head,
                signed_at=signed_at,
                key_id=key.key_id,
                signature=key.sign(checkpoint_message(last_seq, head, signed_at)),
            )
        )
        head_values |= {"checkpoint_seq": last_seq, "checkpoint_at": signed_at}
        written = last_seq
    await session.execute(update(chain).where(chain.id == 1).values(**head_values))
    await session.flush()
    return SealResult(len(sealed), written, len(pending) == batch)


def _chain(
    pending: Sequence[Sequence[Any]], last_seq: int, head: str
) -> tuple[list[tuple[int, int, str, str]], int, str]:
    """The records' positions and hashes in order: (id, seq, prev_hash, hash) each, the last seq and head."""
    sealed: list[tuple[int, int, str, str]] = []
    for record in pending:
        last_seq += 1
        digest = record_hash(head, last_seq, record)
        sealed.append((record[0], last_seq, head, digest))
        head = digest
    return sealed, last_seq, head


def _checkpoint_due(
    last_seq: int,
    checkpoint_seq: int,
    checkpoint_at: datetime | None,
    *,
    now: datetime,
    every: int,
    seconds: float,
    force: bool,
) -> bool:
    if last_seq <= checkpoint_seq:
        return False
    return (
        force
        or checkpoint_at is None
        or last_seq - checkpoint_seq >= every
        or (now - checkpoint_at).total_seconds() >= seconds
    )


# PostgreSQL: the batch's positions in one statement (arrays unnested), not one UPDATE per record.
_UNNEST_UPDATE = text(
    "UPDATE processing_log AS p SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash "
    "FROM unnest(:ids, :seqs, :prevs, :hashes) AS v(id, seq, prev_hash, hash) WHERE p.id = v.id"
).bindparams(
    bindparam("ids", type_=ARRAY(BigInteger)),
    bindparam("seqs", type_=ARRAY(BigInteger)),
    bindparam("prevs", type_=ARRAY(String)),
    bindparam("hashes", type_=ARRAY(String)),
)


async def _write_seals(session: AsyncSession, sealed: list[tuple[int, int, str, str]]) -> None:
    """One statement on PostgreSQL (arrays unnested); an executemany of updates by id elsewhere."""
    if session.get_bind().dialect.name == "postgresql":
        ids, seqs, prevs, hashes = (list(column) for column in zip(*sealed, strict=True))
        await session.execute(_UNNEST_UPDATE, {"ids": ids, "seqs": seqs, "prevs": prevs, "hashes": hashes})
        return
    await session.execute(
        update(ProcessingLogRecord),
        [{"id": i, "seq": s, "prev_hash": p, "hash": h} for i, s, p, h in sealed],
    )


async def seal_all(database: Database, settings: AuditSettings, *, force_checkpoint: bool = False) -> SealResult:
    """Seal until nothing is left (each batch its own transaction); the last round's result, totalled."""
    key = AuditKey.from_setting(settings.audit_signing_key)
    total, checkpoint = 0, None
    while True:
        async with database.sessionmaker() as session, session.begin():
            result = await seal(
                session,
                key,
                every=settings.audit_checkpoint_every,
                seconds=settings.audit_checkpoint_seconds,
                force_checkpoint=force_checkpoint and not (total and checkpoint),
            )
        total += result.sealed
        checkpoint = result.checkpoint or checkpoint
        if not result.more:
            return SealResult(total, checkpoint, False)


# Records per scheduled round: short transactions (a full round runs again at once, `more`).
SCHEDULED_BATCH = 2_000


@asynccontextmanager
async def scheduled(database: Database, settings: AuditSettings) -> AsyncIterator[None]:
    """The sealer, every ``audit_seal_interval_seconds`` while the registry runs (0: never)."""
    key = AuditKey.from_setting(settings.audit_signing_key)

    async def step() -> bool:
        async with database.sessionmaker() as session, session.begin():
            result = await seal(
                session,
                key,
                every=settings.audit_checkpoint_every,
                seconds=settings.audit_checkpoint_seconds,
                batch=SCHEDULED_BATCH,
            )
        if result.checkpoint is not None:
            logger.info("processing log checkpoint", extra={"count": result.checkpoint})
        return result.more

    async with periodic("registry-audit-seal", settings.audit_seal_interval_seconds, step, logger):
        yield


# Checkpoints.


async def checkpoints(session: AsyncSession, after: int, limit: int) -> list[ProcessingLogCheckpoint]:
    query = (
        select(ProcessingLogCheckpoint)
        .where(ProcessingLogCheckpoint.seq > after)
        .order_by(ProcessingLogCheckpoint.seq)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


def checkpoint_document(checkpoint: ProcessingLogCheckpoint) -> dict[str, Any]:
    """A checkpoint as published (and as ``lmx audit verify --checkpoints`` reads a kept copy)."""
    return {
        "count": checkpoint.seq,
        "headHash": checkpoint.head_hash,
        "signedAt": _plain(checkpoint.signed_at),
        "keyId": checkpoint.key_id,
        "signature": checkpoint.signature,
    }


# Verification.


@dataclass
class Verification:
    """What :func:`verify` found: ``problems`` empty means the chain and every checkpoint hold."""

    records: int = 0  # sealed records checked
    unsealed: int = 0  # committed records not yet in the chain (not covered yet)
    checkpoints: int = 0
    covered: int = 0  # records covered by the newest valid checkpoint
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _Checkpoint:
    seq: int
    head_hash: str
    signed_at: datetime
    key_id: str
    signature: str
    source: str  # "database" or "copy"


async def verify(
    session: AsyncSession,
    key: AuditKey,
    kept_checkpoints: Iterable[dict[str, Any]] = (),
    *,
    batch: int = 10_000,
) -> Verification:
    """Walk the chain in ``seq`` order and check every link and every checkpoint (read only).

    ``kept_checkpoints`` are copies a monitor kept (``GET /processing-log/checkpoints``): they must
    hold too, and must still be in the database, so deleting checkpoints does not hide a rewrite."""
    found = Verification()
    record_problems: list[str] = []
    checkpoint_problems: list[str] = []

    stored = [
        _Checkpoint(c.seq, c.head_hash, c.signed_at, c.key_id, c.signature, "database")
        for c in (
            await session.execute(select(ProcessingLogCheckpoint).order_by(ProcessingLogCheckpoint.seq))
        ).scalars()
    ]
    by_seq = {c.seq: c for c in stored}
    kept = []
    for document in kept_checkpoints:
        copy = _Checkpoint(
            int(document["count"]),
            str(document["headHash"]),
            datetime.fromisoformat(str(document["signedAt"])),
            str(document.get("keyId", "")),
            str(document["signature"]),
            "copy",
        )
        kept.append(copy)
        original = by_seq.get(copy.seq)
        if original is None:
            checkpoint_problems.append(
                f"checkpoint at count {copy.seq} of the kept copy is not in the database (deleted)"
            )
        elif (original.head_hash, original.signature) != (copy.head_hash, copy.signature):
            checkpoint_problems.append(f"checkpoint at count {copy.seq} differs from the kept copy (altered)")
    valid: dict[int, list[_Checkpoint]] = {}
    for checkpoint in [*stored, *kept]:
        label = f"checkpoint at count {checkpoint.seq}" + (" (kept copy)" if checkpoint.source == "copy" else "")
        if not key.verifies(
            checkpoint_message(checkpoint.seq, checkpoint.head_hash, checkpoint.signed_at), checkpoint.signature
        ):
            checkpoint_problems.append(f"{label}: the signature is not valid for key {key.key_id} (forged or altered)")
            continue
        valid.setdefault(checkpoint.seq, []).append(checkpoint)
    found.checkpoints = len(stored)

    chain = ProcessingLogRecord
    expected, previous, last_seen = 1, GENESIS, 0
    while True:
        rows = (
            await session.execute(
                select(chain.seq, chain.prev_hash, chain.hash, *_COLUMNS)
                .where(chain.seq > last_seen)
                .order_by(chain.seq)
                .limit(batch)
            )
        ).all()
        for seq, prev_hash, stored_hash, *values in rows:
            label = f"record seq {seq} (id {values[0]}, registration {values[1]})"
            if seq != expected:
                record_problems.append(
                    f"records seq {expected}..{seq - 1} are missing before {label} (deleted or renumbered)"
                )
            if prev_hash != previous:
                record_problems.append(
                    f"{label}: prev_hash is not the hash of the record before it (inserted, deleted or reordered)"
                )
            if record_hash(prev_hash or GENESIS, seq, values) != stored_hash:
                record_problems.append(f"{label}: its content does not match its hash (edited or moved)")
            for checkpoint in valid.get(seq, ()):
                if checkpoint.head_hash != stored_hash:
                    checkpoint_problems.append(
                        f"checkpoint at count {seq}: its head hash is not the chain's at {label} (chain rewritten)"
                    )
            previous, expected, last_seen = stored_hash or "", seq + 1, seq
            found.records += 1
        if len(rows) < batch:
            break
    length = last_seen
    for seq in sorted(valid):
        if seq > length:
            checkpoint_problems.append(
                f"checkpoint at count {seq}: the chain has only {length} records (records deleted at the end)"
            )
    good = [seq for seq in valid if seq <= length]
    found.covered = max(good, default=0)

    state = (await session.execute(select(ProcessingLogChain.last_seq, ProcessingLogChain.head_hash))).one()
    if (state.last_seq, state.head_hash) != (length, previous if length else GENESIS):
        record_problems.append(
            f"the chain's head says {state.last_seq} records ending in {state.head_hash[:16]}…, the records give "
            f"{length} ending in {(previous if length else GENESIS)[:16]}… (records deleted or added at the end)"
        )
    found.unsealed = (
        await session.execute(select(func.count()).select_from(chain).where(chain.seq.is_(None)))
    ).scalar_one()
    found.problems = record_problems + checkpoint_problems
    return found
