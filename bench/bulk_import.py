"""Bulk import rate into PostgreSQL through the real stack (lmx up on PostgreSQL).

    .venv/bin/python bench/bulk_import.py --count 100000 [--batch 5000] [--direct]

Creates fresh PostgreSQL databases, starts the stack with `lmx up` on free ports, imports COUNT
synthetic registrations as the demo information point in batches through
POST /registry/v1/registrations/bulk (or straight to the registry with --direct), and prints
registrations/s (validation, pseudonymisation, encryption and the processing log included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx

ROOT = Path(__file__).resolve().parent.parent
LMX = str(Path(sys.executable).parent / "lmx")
sys.path.insert(0, str(ROOT))

from tests.support.registrations import make_registration  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def recreate(names: list[str], admin: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop(names: list[str], admin: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--direct", action="store_true", help="post to the registry, not through the gateway")
    parser.add_argument(
        "--postgres", default=os.environ.get("LMX_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
    )
    parser.add_argument(
        "--prefix",
        default=os.environ.get("LMX_BENCH_PREFIX", "lmx_bench"),
        help="database name prefix (use your own when others benchmark on the same server)",
    )
    args = parser.parse_args()

    prefix = args.prefix
    components = ("gateway", "registry", "certification", "housing")
    asyncio.run(recreate([f"{prefix}_{c}" for c in components], args.postgres + "/postgres"))
    env = dict(os.environ)
    for component in components:
        env[f"{component.upper()}_DATABASE_URL"] = (
            args.postgres.replace("postgresql://", "postgresql+asyncpg://") + f"/{prefix}_{component}"
        )
    env["GATEWAY_RATE_LIMIT"] = "1000000/minute"
    env["GATEWAY_READ_TIMEOUT"] = "600"
    ports = {c: free_port() for c in components}
    workdir = Path(tempfile.mkdtemp(prefix="lmx-bench-"))
    stack = subprocess.Popen(
        [LMX, "up", *[f"--{c}-port={p}" for c, p in ports.items()]],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert stack.stdout is not None
        for line in stack.stdout:
            if "curl -s -H" in line:
                break
        credentials = json.loads((workdir / "var" / "demo-clients.json").read_text())
        gateway = f"http://127.0.0.1:{ports['gateway']}"

        def new_token() -> str:
            return str(
                httpx.post(
                    gateway + "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=("mip-west-brabant", credentials["mip-west-brabant"]["clientSecret"]),
                ).json()["access_token"]
            )

        token, token_at = new_token(), time.monotonic()
        target = f"http://127.0.0.1:{ports['registry']}/v1" if args.direct else gateway + "/registry/v1"
        print(f"generating {args.count} lines …", flush=True)
        lines = [json.dumps(make_registration(**{"residence.municipalityCode": "GM0758"})) for _ in range(args.count)]
        rates = []
        refused = 0
        started = time.perf_counter()
        with httpx.Client(timeout=600) as http:
            for start in range(0, args.count, args.batch):
                chunk = "\n".join(lines[start : start + args.batch]).encode()
                if time.monotonic() - token_at > 200:  # tokens live 300 s
                    token, token_at = new_token(), time.monotonic()
                t0 = time.perf_counter()
                response = http.post(
                    target + "/registrations/bulk",
                    content=chunk,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/x-ndjson",
                        "X-Processing-Activity": "lmx-information-point",
                    },
                )
                elapsed = time.perf_counter() - t0
                body = response.json()
                assert response.status_code == 200, response.text[:500]
                # A synthetic BSN may collide with the demo data's: such a line is refused as a duplicate.
                refused += body["invalid"]
                rates.append((body["created"] + body["invalid"]) / elapsed)
        total = time.perf_counter() - started
        print(
            f"imported {args.count} registrations in {total:.1f} s: {args.count / total:,.0f}/s overall, "
            f"median batch {statistics.median(rates):,.0f}/s (batch {args.batch}, "
            f"{'direct' if args.direct else 'through the gateway'})"
        )
    finally:
        stack.send_signal(signal.SIGINT)
        stack.wait(timeout=60)
        asyncio.run(drop([f"{prefix}_{c}" for c in components], args.postgres + "/postgres"))


if __name__ == "__main__":
    main()
