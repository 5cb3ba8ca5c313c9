"""The tamper-evident processing log (ADR 0023): sealing, checkpoints, and `lmx audit verify` finding
each kind of tampering — an edited, deleted, inserted or reordered record, a forged checkpoint, and a
chain rewritten from the edit onwards — with a clear message naming the first bad record."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from lmx_cli.main import app as cli
from lmx_common.auth import OrganisationType, Principal
from lmx_common.db import Database
from lmx_common.migrations import upgrade
from services.registry import audit, processing_log
from services.registry.context import RequestContext
from tests.conftest import (
    create_postgres_databases,
    drop_postgres_databases,
    require_postgres,
)

KEY = audit.AuditKey.from_setting("development-only-audit-signing-key")
runner = CliRunner()
PRINCIPAL = Principal(
    client_id="gemeente-test",
    organisation_oin="00000001001234567000",
    organisation_type=OrganisationType.MUNICIPALITY,
    scopes=frozenset({"registry:read"}),
    token_id="t",
    expires_at=0,
    municipality_code="GM1655",
)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/registry.db"
    upgrade("registry", url)
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    require_postgres()
    urls = create_postgres_databases(f"lmx_audit_{uuid.uuid4().hex[:8]}")
    try:
        upgrade("registry", urls["registry"])
        yield urls["registry"]
    finally:
        drop_postgres_databases(urls)


def context(n: int) -> RequestContext:
    return RequestContext(
        principal=PRINCIPAL,
        trace_id=uuid.uuid4().hex,
        transaction_id=str(uuid.uuid4()),
        span_id=f"{n:016x}",
        parent_span_id="a" * 16,
        foreign_span_id="b" * 16,
        started_at=datetime.now(UTC),
    )


async def write(url: str, count: int, start: int = 0) -> None:
    database = Database(url)
    try:
        for n in range(start, start + count):
            async with database.sessionmaker() as session, session.begin():
                await processing_log.record(session, context(n), PRINCIPAL, "read", [str(uuid.uuid4())])
    finally:
        await database.dispose()


async def seal(url: str, *, every: int = 4, force: bool = False) -> audit.SealResult:
    database = Database(url)
    try:
        async with database.sessionmaker() as session, session.begin():
            return await audit.seal(session, KEY, every=every, seconds=3600, force_checkpoint=force)
    finally:
        await database.dispose()


async def verify(url: str, kept: list[dict[str, Any]] | None = None) -> audit.Verification:
    database = Database(url)
    try:
        async with database.sessionmaker() as session, session.begin():
            return await audit.verify(session, KEY, kept or [])
    finally:
        await database.dispose()


async def sql(url: str, *statements: str, **params: Any) -> list[Any]:
    database = Database(url)
    try:
        async with database.engine.begin() as conn:
            results = []
            for statement in statements:
                result = await conn.execute(text(statement), params)
                results.append(result.all() if result.returns_rows else None)
            return results
    finally:
        await database.dispose()


async def sealed_log(url: str, count: int = 10) -> None:
    """``count`` (10) records sealed, with checkpoints at 4 and 8 (every=4) and one at 10 (forced)."""
    for start in range(0, count, 4):
        await write(url, min(4, count - start), start)
        assert (await seal(url)).sealed == min(4, count - start)
    await seal(url, force=True)


def cli_verify(monkeypatch, url: str, *args: str) -> Any:
    monkeypatch.setenv("REGISTRY_DATABASE_URL", url)
    monkeypatch.delenv("REGISTRY_AUDIT_SIGNING_KEY", raising=False)
    result = runner.invoke(cli, ["audit", "verify", *args])
    result.text = " ".join(result.output.split())  # type: ignore[attr-defined]
    return result


def test_an_untouched_log_verifies(sqlite_url, monkeypatch):
    async def scenario() -> None:
        await write(sqlite_url, 6)
        first = await seal(sqlite_url, every=4)
        assert (first.sealed, first.checkpoint) == (6, 6)  # the first checkpoint is due at once
        await write(sqlite_url, 3, start=6)
        assert (await seal(sqlite_url, every=4)).checkpoint is None  # 3 < every, and within the time
        assert (await seal(sqlite_url, every=4, force=True)).checkpoint == 9
        rows = await sql(sqlite_url, "SELECT seq, prev_hash, hash FROM processing_log ORDER BY seq")
        assert [r[0] for r in rows[0]] == list(range(1, 10))
        assert rows[0][0][1] == audit.GENESIS and all(rows[0][i][1] == rows[0][i - 1][2] for i in range(1, 9))
        found = await verify(sqlite_url)
        assert found.ok, found.problems
        assert (found.records, found.checkpoints, found.covered, found.unsealed) == (9, 2, 9, 0)

    asyncio.run(scenario())
    result = cli_verify(monkeypatch, sqlite_url)
    assert result.exit_code == 0, result.output
    assert "OK: 9 records in the chain, 2 checkpoints" in result.text


def test_an_edited_record_is_found(sqlite_url, monkeypatch):
    asyncio.run(sealed_log(sqlite_url))
    asyncio.run(sql(sqlite_url, "UPDATE processing_log SET client_id = 'someone-else' WHERE seq = 5"))
    result = cli_verify(monkeypatch, sqlite_url)
    assert result.exit_code == 1
    assert "tampered with" in result.text
    assert "record seq 5 (id 5" in result.text and "does not match its hash (edited" in result.text


def test_a_deleted_record_is_found(sqlite_url, monkeypatch):
    asyncio.run(sealed_log(sqlite_url))
    asyncio.run(sql(sqlite_url, "DELETE FROM processing_log WHERE seq = 3"))
    result = cli_verify(monkeypatch, sqlite_url)
    assert result.exit_code == 1
    assert "records seq 3..3 are missing before record seq 4" in result.text


def test_a_deleted_last_record_is_found(sqlite_url, monkeypatch):
    asyncio.run(sealed_log(sqlite_url))
    asyncio.run(sql(sqlite_url, "DELETE FROM processing_log WHERE seq = 10"))
    found = asyncio.run(verify(sqlite_url))
    assert not found.ok
    assert "the chain's head says 10 records" in found.problems[0]
    assert any("checkpoint at count 10: the chain has only 9 records" in p for p in found.problems)


def test_an_inserted_record_is_found(sqlite_url, monkeypatch):
    """A record slipped in at seq 4: the later ones renumbered, its hash made by the algorithm."""

    async def tamper() -> None:
        await sealed_log(sqlite_url)
        (prev,) = (await sql(sqlite_url, "SELECT hash FROM processing_log WHERE seq = 3"))[0]
        for seq in range(10, 3, -1):  # from the end, so the unique seq index holds at every step
            await sql(sqlite_url, "UPDATE processing_log SET seq = :new WHERE seq = :old", new=seq + 1, old=seq)
        now = datetime.now(UTC)
        values = [9999, "forged-registration", "f" * 32, None, None, None, None, "lmx-consultation", "read"]
        values += ["00000001001234567000", "gemeente-test", 1, now, now]
        forged = audit.record_hash(prev[0], 4, values)
        await sql(
            sqlite_url,
            "INSERT INTO processing_log (id, registration_id, trace_id, activity, action, organisation_oin, "
            "client_id, status_code, started_at, occurred_at, seq, prev_hash, hash) VALUES (9999, "
            "'forged-registration', :trace, 'lmx-consultation', 'read', '00000001001234567000', 'gemeente-test', "
            "1, :now, :now, 4, :prev, :hash)",
            trace="f" * 32,
            now=now.replace(tzinfo=None),
            prev=prev[0],
            hash=forged,
        )

    asyncio.run(tamper())
    result = cli_verify(monkeypatch, sqlite_url)
    assert result.exit_code == 1
    assert "record seq 5 (id 4" in result.text
    assert "prev_hash is not the hash of the record before it (inserted" in result.text


def test_swapped_records_are_found(sqlite_url, monkeypatch):
    """Two records exchange their places (seq), each keeping its own hash."""

    async def tamper() -> None:
        await sealed_log(sqlite_url)
        await sql(
            sqlite_url,
            "UPDATE processing_log SET seq = 100 WHERE seq = 6",
            "UPDATE processing_log SET seq = 6 WHERE seq = 7",
            "UPDATE processing_log SET seq = 7 WHERE seq = 100",
        )

    asyncio.run(tamper())
    result = cli_verify(monkeypatch, sqlite_url)
    assert result.exit_code == 1
    assert "record seq 6 (id 7" in result.text


def test_swapped_contents_are_found(sqlite_url):
    """Two records exchange their contents, the chain columns staying in place."""

    async def tamper() -> None:
        await sealed_log(sqlite_url)
        await sql(
            sqlite_url,
            "UPDATE processing_log SET trace_id = 'x' WHERE seq = 2",
            "UPDATE processing_log SET trace_id = (SELECT trace_id FROM processing_log WHERE seq = 8) WHERE seq = 2",
        )

    asyncio.run(tamper())
    found = asyncio.run(verify(sqlite_url))
    assert found.problems[0].startswith("record seq 2 (id 2")


def test_a_forged_checkpoint_is_found(sqlite_url, monkeypatch):
    async def tamper() -> None:
        await sealed_log(sqlite_url)
        other = audit.AuditKey.from_setting("0" * 63 + "1")
        signed_at = datetime.now(UTC)
        head = "ab" * 32
        await sql(
            sqlite_url,
            "INSERT INTO processing_log_checkpoints (seq, head_hash, signed_at, key_id, signature) "
            "VALUES (12, :head, :at, :kid, :sig)",
            "UPDATE processing_log_checkpoints SET head_hash = :head WHERE seq = 4",
            head=head,
            at=signed_at.replace(tzinfo=None),
            kid=KEY.key_id,
            sig=other.sign(audit.checkpoint_message(12, head, signed_at)),
        )

    asyncio.run(tamper())
    result = cli_verify(monkeypatch, sqlite_url)
    assert result.exit_code == 1
    assert "checkpoint at count 4: the signature is not valid" in result.text
    assert "checkpoint at count 12: the signature is not valid" in result.text


def test_a_rewritten_chain_is_found_by_its_checkpoints(sqlite_url, monkeypatch, tmp_path):
    """Whoever edits a record and recomputes every hash after it (the algorithm is public) still cannot
    sign: the checkpoints no longer match. Deleting those checkpoints too is found against a kept copy."""

    async def tamper() -> list[dict[str, Any]]:
        await sealed_log(sqlite_url)
        database = Database(sqlite_url)
        try:
            async with database.sessionmaker() as session:
                kept = [audit.checkpoint_document(c) for c in await audit.checkpoints(session, 0, 100)]
        finally:
            await database.dispose()
        await sql(sqlite_url, "UPDATE processing_log SET client_id = 'someone-else' WHERE seq = 2")
        fields = ", ".join(audit.CHAIN_FIELDS)
        (rows,) = await sql(sqlite_url, f"SELECT seq, {fields} FROM processing_log ORDER BY seq")  # noqa: S608
        prev = audit.GENESIS
        for seq, *values in rows:
            values[-2:] = [datetime.fromisoformat(str(v)).replace(tzinfo=UTC) for v in values[-2:]]
            digest = audit.record_hash(prev, seq, values)
            await sql(
                sqlite_url,
                "UPDATE processing_log SET prev_hash = :p, hash = :h WHERE seq = :s",
                p=prev,
                h=digest,
                s=seq,
            )
            prev = digest
        await sql(sqlite_url, "UPDATE processing_log_chain SET head_hash = :h", h=prev)
        return kept

    kept = asyncio.run(tamper())
    found = asyncio.run(verify(sqlite_url))
    assert [p for p in found.problems if p.startswith("record")] == []  # the links hold: only signatures tell
    assert "checkpoint at count 4: its head hash is not the chain's" in found.problems[0]

    asyncio.run(sql(sqlite_url, "DELETE FROM processing_log_checkpoints"))
    copy = tmp_path / "checkpoints.json"
    copy.write_text(__import__("json").dumps({"items": kept}))
    result = cli_verify(monkeypatch, sqlite_url, "--checkpoints", str(copy))
    assert result.exit_code == 1
    assert "checkpoint at count 4 of the kept copy is not in the database (deleted)" in result.text


def test_verify_with_the_published_public_key(sqlite_url, monkeypatch, tmp_path):
    asyncio.run(sealed_log(sqlite_url))
    jwk = tmp_path / "key.json"
    jwk.write_text(__import__("json").dumps({"keys": [KEY.jwk()]}))
    assert cli_verify(monkeypatch, sqlite_url, "--public-key", str(jwk)).exit_code == 0
    wrong = tmp_path / "wrong.pem"
    wrong.write_text(audit.AuditKey.from_setting("1" * 64).public_pem())
    result = cli_verify(monkeypatch, sqlite_url, "--public-key", str(wrong))
    assert result.exit_code == 1 and "signature is not valid" in result.text


def test_signing_key_setting():
    assert base64.urlsafe_b64decode(KEY.jwk()["x"] + "=") == KEY.raw_public
    pem = runner.invoke(cli, ["audit", "generate-key"]).output
    key = audit.AuditKey.from_setting(pem)
    assert key.verifies(b"m", key.sign(b"m")) and not KEY.verifies(b"m", key.sign(b"m"))
    from services.registry.config import RegistrySettings

    with pytest.raises(ValueError, match="audit_signing_key"):
        RegistrySettings(
            environment="production",
            database_url="postgresql+asyncpg://x/y",
            pseudonym_key="p" * 40,
            encryption_key="e" * 40,
        )


@pytest.mark.postgres
def test_concurrent_writers_and_sealers_on_postgresql(postgres_url, monkeypatch):
    """Eight writers commit in any order while three sealers run: one chain, no fork, every record
    sealed exactly once, and it verifies."""

    async def scenario() -> None:
        stop = asyncio.Event()

        async def sealer() -> None:
            database = Database(postgres_url)
            try:
                while not stop.is_set():
                    async with database.sessionmaker() as session, session.begin():
                        await audit.seal(session, KEY, every=25, seconds=3600)
                    await asyncio.sleep(0.005)
            finally:
                await database.dispose()

        async def writer(n: int) -> None:
            database = Database(postgres_url)
            try:
                for i in range(40):
                    async with database.sessionmaker() as session, session.begin():
                        await processing_log.record(
                            session, context(n * 1000 + i), PRINCIPAL, "read", [str(uuid.uuid4())]
                        )
                        if i % 3 == 0:
                            await asyncio.sleep(0.01)  # hold the transaction: ids commit out of order
            finally:
                await database.dispose()

        sealers = [asyncio.create_task(sealer()) for _ in range(3)]
        await asyncio.gather(*(writer(n) for n in range(8)))
        stop.set()
        await asyncio.gather(*sealers)
        await seal(postgres_url, every=25, force=True)
        found = await verify(postgres_url)
        assert found.ok, found.problems
        assert (found.records, found.unsealed, found.covered) == (320, 0, 320)
        (counts,) = await sql(postgres_url, "SELECT count(DISTINCT seq), max(seq), count(*) FROM processing_log")
        assert tuple(counts[0]) == (320, 320, 320)

    asyncio.run(scenario())
    assert cli_verify(monkeypatch, postgres_url).exit_code == 0
