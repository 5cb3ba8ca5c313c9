"""The bulk import in-process, without HTTP: what one request's work costs in the registry.

    .venv/bin/python bench/profile_bulk.py [--lines 5000] [--runs 5] [--profile] [--sqlite]

Creates a scratch PostgreSQL database (``wtbulk_profile_<random>`` on $LMX_BENCH_POSTGRES, default the
local server; dropped afterwards), migrates it, then runs what ``POST /registrations/bulk`` runs
(parse, validate, pseudonymise, insert, processing log, outbox events, commit) ``--runs`` times
on fresh NDJSON lines, and prints lines/s per run and the median. ``--profile`` prints a
cProfile of one more run, sorted by total time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy.engine import make_url  # noqa: E402

from lmx_common.auth import OrganisationType, Principal  # noqa: E402
from lmx_common.db import Database  # noqa: E402
from lmx_common.migrations import upgrade  # noqa: E402
from services.registry import bulk, service  # noqa: E402
from services.registry.context import RequestContext  # noqa: E402
from services.registry.crypto import BsnVault  # noqa: E402
from tests.support.registrations import make_registration  # noqa: E402

PRINCIPAL = Principal(
    client_id="mip-west-brabant",
    organisation_oin="00000099000000000001",
    organisation_type=OrganisationType.INFORMATION_POINT,
    scopes=frozenset({"registry:write"}),
    token_id="profile",  # noqa: S106 (a token id, not a secret)
    expires_at=2**31,
)


def body(lines: int) -> bytes:
    return ("\n".join(json.dumps(make_registration()) for _ in range(lines)) + "\n").encode()


async def one_request(database: Database, vault: BsnVault, payload: bytes) -> int:
    async with database.sessionmaker() as session:
        lines = bulk.parse(payload, "application/x-ndjson")
        result = await service.bulk_create(session, RequestContext(PRINCIPAL), lines, vault)
        json.dumps(result)
        await session.commit()
    return int(result["created"])


async def admin(url: str, statement: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument(
        "--postgres", default=os.environ.get("LMX_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
    )
    args = parser.parse_args()
    name = f"wtbulk_profile_{uuid.uuid4().hex[:8]}"
    if args.sqlite:
        folder = tempfile.mkdtemp()
        url = f"sqlite+aiosqlite:///{folder}/registry.db"
    else:
        asyncio.run(admin(args.postgres, f'CREATE DATABASE "{name}"'))
        url = make_url(args.postgres).set(drivername="postgresql+asyncpg", database=name).render_as_string(False)
    try:
        upgrade("registry", url)
        vault = BsnVault("profile-pseudonym-key", "profile-encryption-key")
        payloads = [body(args.lines) for _ in range(args.runs + 1)]

        async def run() -> None:
            database = Database(url)
            try:
                await one_request(database, vault, body(50))  # warm up: connection, statement caches
                rates = []
                for payload in payloads[: args.runs]:
                    start = time.perf_counter()
                    created = await one_request(database, vault, payload)
                    elapsed = time.perf_counter() - start
                    assert created == args.lines, created
                    rates.append(args.lines / elapsed)
                    print(f"{args.lines} lines in {elapsed:.3f} s: {args.lines / elapsed:,.0f}/s")
                print(f"median {statistics.median(rates):,.0f}/s over {args.runs} runs")
                if args.profile:
                    profiler = cProfile.Profile()
                    profiler.enable()
                    await one_request(database, vault, payloads[-1])
                    profiler.disable()
                    pstats.Stats(profiler).sort_stats("tottime").print_stats(35)
                    pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
            finally:
                await database.dispose()

        asyncio.run(run())
    finally:
        if not args.sqlite:
            asyncio.run(admin(args.postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
