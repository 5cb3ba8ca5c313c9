"""The kit's job lock (ADR 0031): one holder at a time on PostgreSQL, released at commit; always
granted on SQLite (one process). And `lmx up --replicas` refuses what would break the jobs' once."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from lmx_cli.main import app
from lmx_common.db import Database
from lmx_common.jobs import job_lock, lock_key

runner = CliRunner()


def test_a_jobs_lock_key_is_stable_and_its_own():
    assert lock_key("registry-retention") == lock_key("registry-retention")
    assert lock_key("registry-retention") != lock_key("registry-audit-seal")
    assert -(2**63) <= lock_key("registry-retention") < 2**63
    # Not Python's salted hash(): every replica must derive the same key.
    assert lock_key("registry-retention") == -5561583515289943090


async def test_one_holder_at_a_time_released_at_commit(backend):
    database = Database(backend.urls["registry"])
    try:
        async with database.sessionmaker() as first, database.sessionmaker() as second:
            async with first.begin():
                assert await job_lock(first, "test-job") is True
                async with second.begin():
                    # Another process (connection) while the first holds it: no on PostgreSQL.
                    assert await job_lock(second, "test-job") is (backend.name == "sqlite")
                    assert await job_lock(second, "another-job") is True
            async with second.begin():  # the first committed: free again
                assert await job_lock(second, "test-job") is True
                assert await job_lock(second, "test-job", wait=True) is True  # re-entrant for its holder
    finally:
        await database.dispose()


@pytest.fixture
def sqlite_workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "300")
    for prefix in ("GATEWAY", "REGISTRY", "CERTIFICATION", "HOUSING"):
        monkeypatch.delenv(f"{prefix}_DATABASE_URL", raising=False)
    monkeypatch.delenv("GATEWAY_REDIS_URL", raising=False)
    return tmp_path


def test_several_replicas_refuse_sqlite_and_in_memory_rate_limits(sqlite_workdir, monkeypatch):
    result = runner.invoke(app, ["up", "--replicas", "2", "--redis-url", "redis://127.0.0.1:6379/0"])
    assert result.exit_code == 2, result.output
    assert "--replicas needs PostgreSQL; on SQLite: certification, gateway, housing, registry" in result.output
    for component in ("GATEWAY", "REGISTRY", "CERTIFICATION", "HOUSING"):
        monkeypatch.setenv(f"{component}_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:1/none")
    result = runner.invoke(app, ["up", "--replicas", "2"])
    assert result.exit_code == 2, result.output
    assert "--replicas needs Redis for the rate limits" in result.output
    result = runner.invoke(
        app, ["up", "--replicas", "2", "--redis-url", "redis://127.0.0.1:6379/0", "--port-step", "2"]
    )
    assert result.exit_code == 2, result.output  # lane 2's gateway would be lane 1's certification
    assert "two processes would share a port" in result.output
    assert not (sqlite_workdir / "var").exists()  # refused before migrating or starting anything
