"""What a bulk import costs the registry's other callers, and what an oversized upload costs it.

    .venv/bin/python bench/bulk_concurrency.py [--lines 10000] [--runs 3] [--prefix lmx_bench_conc]

Creates fresh PostgreSQL databases, starts the stack with `lmx up` on free ports (as
bench/bulk_import.py does), then, straight at the registry:

1. ``--runs`` times: imports ``--lines`` fresh valid NDJSON lines as the demo information point
   while another municipality (Breda) reads one registration every 20 ms; prints the import's
   duration and rate, and the reads' latency during the import (median and maximum);
2. oversized uploads (600,000 and 1,000,000 one-character lines, 20 MiB of NDJSON, 40 MiB):
   the time to the answer, its status, and the registry's resident memory after it (VmRSS) and
   its peak so far (VmHWM), from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
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
from tests.support.servers import free_port  # noqa: E402


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


def memory(pid: int) -> str:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return f"RSS {int(fields['VmRSS'].split()[0]) // 1024} MB, peak {int(fields['VmHWM'].split()[0]) // 1024} MB"


async def import_with_reader(
    registry: str, writer: str, reader: str, registration_id: str, lines: int
) -> tuple[float, list[float]]:
    body = (
        "\n".join(json.dumps(make_registration(**{"residence.municipalityCode": "GM0758"})) for _ in range(lines))
    ).encode()
    latencies: list[float] = []
    done = asyncio.Event()

    async def read_meanwhile(http: httpx.AsyncClient) -> None:
        while not done.is_set():
            started = time.perf_counter()
            response = await http.get(
                registry + f"/v1/registrations/{registration_id}", headers={"Authorization": f"Bearer {reader}"}
            )
            assert response.status_code == 200, response.text
            if not done.is_set():
                latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.02)

    async with httpx.AsyncClient(timeout=600) as http, httpx.AsyncClient(timeout=600) as other:
        task = asyncio.create_task(read_meanwhile(other))
        await asyncio.sleep(0.1)
        latencies.clear()
        started = time.perf_counter()
        response = await http.post(
            registry + "/v1/registrations/bulk",
            content=body,
            headers={"Authorization": f"Bearer {writer}", "Content-Type": "application/x-ndjson"},
        )
        elapsed = time.perf_counter() - started
        done.set()
        await task
    assert response.status_code == 200, response.text[:500]
    return elapsed, latencies


async def oversized(registry: str, writer: str, body: bytes) -> tuple[float, int]:
    async with httpx.AsyncClient(timeout=600) as http:
        started = time.perf_counter()
        try:
            response = await http.post(
                registry + "/v1/registrations/bulk",
                content=body,
                headers={"Authorization": f"Bearer {writer}", "Content-Type": "application/x-ndjson"},
            )
            status = response.status_code
        except httpx.HTTPError:
            status = 0
        return time.perf_counter() - started, status


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--postgres", default=os.environ.get("LMX_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
    )
    parser.add_argument("--prefix", default=os.environ.get("LMX_BENCH_PREFIX", "lmx_bench_conc"))
    parser.add_argument("--skip-oversized", action="store_true")
    args = parser.parse_args()

    components = ("gateway", "registry", "certification", "housing")
    asyncio.run(recreate([f"{args.prefix}_{c}" for c in components], args.postgres + "/postgres"))
    env = dict(os.environ)
    for component in components:
        env[f"{component.upper()}_DATABASE_URL"] = (
            args.postgres.replace("postgresql://", "postgresql+asyncpg://") + f"/{args.prefix}_{component}"
        )
    env["GATEWAY_RATE_LIMIT"] = "1000000/minute"
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
        pid = json.loads((workdir / "var" / "stack.json").read_text())["registry"]["pid"]
        gateway = f"http://127.0.0.1:{ports['gateway']}"
        registry = f"http://127.0.0.1:{ports['registry']}"

        def token(client: str) -> str:
            return str(
                httpx.post(
                    gateway + "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(client, credentials[client]["clientSecret"]),
                ).json()["access_token"]
            )

        writer, reader = token("mip-west-brabant"), token("breda")
        created = httpx.post(
            registry + "/v1/registrations",
            json=make_registration(**{"residence.municipalityCode": "GM0758"}),
            headers={"Authorization": f"Bearer {writer}"},
        )
        assert created.status_code == 201, created.text
        registration_id = created.json()["id"]
        print(f"registry pid {pid}: {memory(pid)}")
        durations, medians, maxima = [], [], []
        for run in range(args.runs):
            elapsed, latencies = asyncio.run(import_with_reader(registry, writer, reader, registration_id, args.lines))
            durations.append(elapsed)
            medians.append(statistics.median(latencies) if latencies else float("nan"))
            maxima.append(max(latencies) if latencies else float("nan"))
            print(
                f"run {run + 1}: {args.lines} lines in {elapsed:.2f} s ({args.lines / elapsed:,.0f}/s); "
                f"{len(latencies)} reads meanwhile: median {medians[-1] * 1000:.0f} ms, max {maxima[-1] * 1000:.0f} ms"
            )
        median_duration = statistics.median(durations)
        print(
            f"median of {args.runs}: import {median_duration:.2f} s ({args.lines / median_duration:,.0f}/s), "
            f"read median {statistics.median(medians) * 1000:.0f} ms, "
            f"read max {statistics.median(maxima) * 1000:.0f} ms"
        )
        print(f"registry: {memory(pid)}")
        if not args.skip_oversized:
            one = json.dumps(make_registration()).encode()
            bodies: list[tuple[str, bytes]] = [
                ("600,000 one-character lines (1.2 MB)", b"a\n" * 600_000),
                ("1,000,000 one-character lines (2 MB)", b"a\n" * 1_000_000),
                ("20 MiB of NDJSON", b"\n".join([one] * (20 * 1024 * 1024 // (len(one) + 1)))),
                ("40 MiB of blank lines", b"\n" * (40 * 1024 * 1024)),
            ]
            for name, body in bodies:
                elapsed, status = asyncio.run(oversized(registry, writer, body))
                print(f"{name}: HTTP {status} after {elapsed:.2f} s; registry {memory(pid)}")
    finally:
        stack.send_signal(signal.SIGINT)
        stack.wait(timeout=60)
        asyncio.run(drop([f"{args.prefix}_{c}" for c in components], args.postgres + "/postgres"))


if __name__ == "__main__":
    main()
