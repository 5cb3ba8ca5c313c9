"""`make bench`: the exchange at national scale on PostgreSQL (never part of `make test`).

    .venv/bin/python bench/run.py [--registrations 100000] [--duration 10] [--runs 3]

1. fresh PostgreSQL databases, the stack started as `make run` does (`lmx up`) but on PostgreSQL;
2. REGISTRATIONS synthetic registrations seeded through the bulk path (import rate);
3. wrk, 32 connections: GET /registrations/{id} on the registry directly and through the gateway
   (requests/s, p50, p99, their ratio) and the gateway's CPU time per proxied request;
4. GET /statistics/work-residence and /statistics/municipalities through the gateway;
5. GET /fair-share for West-Brabant and for a province (when the housing service has it);
6. resident memory of each process, idle and under load.
Prints one table and writes it to bench/results/latest.md. Medians over RUNS; one run of this
script gives the ratios quoted in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx

ROOT = Path(__file__).resolve().parent.parent
LMX = str(Path(sys.executable).parent / "lmx")
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from lmx_common.reference import municipalities, regions  # noqa: E402
from tests.support.registrations import make_registration  # noqa: E402

COMPONENTS = ("gateway", "registry", "certification", "housing")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# The person-level calls are made by the information point, under its processing activity (ADR 0024).
MIP_ACTIVITY = "lmx-information-point"
ACTIVITY = f"X-Processing-Activity: {MIP_ACTIVITY}"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def recreate(names: list[str], admin: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def synthetic_lines(count: int, seed: int = 6) -> list[str]:
    """Registrations across the country: West-Brabant's logistics weight, and every municipality some."""
    rng = random.Random(seed)
    codes = sorted(municipalities())
    west_brabant = list(regions()["west-brabant"].municipality_codes)
    lines = []
    for _ in range(count):
        work = rng.choice(west_brabant) if rng.random() < 0.3 else rng.choice(codes)
        home = work if rng.random() < 0.6 else rng.choice(codes)
        overrides: dict[str, Any] = {
            "work.municipalityCode": work,
            "residence.municipalityCode": home,
            "arrivalDate": (date.today() - timedelta(days=rng.randrange(1, 700))).isoformat(),
            "residence.housingLocationId": f"loc-{home.lower()}-{rng.randrange(1, 6)}",
        }
        if work == "GM1709" and rng.random() < 0.5:
            overrides["work.economicLocationId"] = "wb-moerdijk-logistics-park"
        lines.append(json.dumps(make_registration(**overrides)))
    return lines


def wrk(url: str, token: str, duration: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "--latency",
            "-H",
            f"Authorization: Bearer {token}",
            "-H",
            ACTIVITY,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=True,
    ).stdout

    def ms(label: str) -> float:
        match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": ms("50"),
        "p99": ms("99"),
        "requests": requests,
        "errors": errors,
    }


def timed_get(http: httpx.Client, url: str, token: str, runs: int = 5) -> tuple[float, int, int]:
    """Median wall time in ms of RUNS requests (the whole body read), the last status and body size."""
    times = []
    status = size = 0
    for _ in range(runs):
        started = time.perf_counter()
        response = http.get(url, headers={"Authorization": f"Bearer {token}", "X-Processing-Activity": MIP_ACTIVITY})
        times.append((time.perf_counter() - started) * 1000)
        status, size = response.status_code, len(response.content)
    return statistics.median(times), status, size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--registrations", type=int, default=int(os.environ.get("BENCH_REGISTRATIONS", 100_000)))
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument(
        "--postgres", default=os.environ.get("LMX_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
    )
    parser.add_argument(
        "--prefix", default="lmx_bench", help="database names <prefix>_<component>, dropped and created afresh"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")

    prefix = args.prefix
    asyncio.run(recreate([f"{prefix}_{c}" for c in COMPONENTS], args.postgres + "/postgres"))
    env = dict(os.environ)
    for component in COMPONENTS:
        env[f"{component.upper()}_DATABASE_URL"] = (
            args.postgres.replace("postgresql://", "postgresql+asyncpg://") + f"/{prefix}_{component}"
        )
    env.update(
        GATEWAY_RATE_LIMIT="100000000/minute",
        GATEWAY_READ_TIMEOUT="600",
        REGISTRY_ANONYMISE_INTERVAL_SECONDS="0",
    )  # log levels as `make run` has them: the access line of every request is part of its cost
    workdir = Path(tempfile.mkdtemp(prefix="lmx-bench-"))
    ports = {"gateway": 18100, "registry": 18101, "certification": 18102, "housing": 18103}
    stack = subprocess.Popen(
        [LMX, "up", *[f"--{c}-port={p}" for c, p in ports.items()]],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    rows: list[tuple[str, str]] = []
    try:
        assert stack.stdout is not None
        for line in stack.stdout:
            if "curl -s -H" in line:
                break
        pids = {name: state["pid"] for name, state in json.loads((workdir / "var" / "stack.json").read_text()).items()}
        credentials = json.loads((workdir / "var" / "demo-clients.json").read_text())
        gateway = f"http://127.0.0.1:{ports['gateway']}"
        registry = f"http://127.0.0.1:{ports['registry']}"

        def token(client: str) -> str:
            response = httpx.post(
                gateway + "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(client, credentials[client]["clientSecret"]),
                timeout=30,
            )
            return str(response.json()["access_token"])

        idle = {name: rss_mb(pid) for name, pid in pids.items()}
        # Resident memory sampled every half second through every phase of load.
        phase = {"name": "seeding"}
        loaded: dict[str, dict[str, list[float]]] = {name: {} for name in pids}

        def sample_memory(stop: threading.Event) -> None:
            while not stop.wait(0.5):
                for name, pid in pids.items():
                    loaded[name].setdefault(phase["name"], []).append(rss_mb(pid))

        stop = threading.Event()
        sampler = threading.Thread(target=sample_memory, args=(stop,), daemon=True)
        sampler.start()

        # Seed through the bulk path (directly at the registry: the gateway's body limit is per request anyway).
        print(f"generating {args.registrations:,} registrations …", flush=True)
        lines = synthetic_lines(args.registrations)
        # Without statistics PostgreSQL plans the duplicate check and the outbox queries for an empty
        # table, and they slow down as it fills (seeding 1,000,000 took 31 minutes). Autovacuum would
        # analyse the tables as they grow; where it is off (as on the development machine), we do.
        registry_db = args.postgres + f"/{prefix}_registry"
        autoanalyze = asyncio.run(autovacuum_off(registry_db))
        print("seeding …", flush=True)
        created = 0
        started = time.perf_counter()
        writer, writer_at = token("mip-west-brabant"), time.monotonic()
        with httpx.Client(timeout=600) as http:
            for start in range(0, len(lines), args.batch):
                if time.monotonic() - writer_at > 200:
                    writer, writer_at = token("mip-west-brabant"), time.monotonic()
                response = http.post(
                    registry + "/v1/registrations/bulk",
                    content="\n".join(lines[start : start + args.batch]).encode(),
                    headers={
                        "Authorization": f"Bearer {writer}",
                        "Content-Type": "application/x-ndjson",
                        "X-Processing-Activity": MIP_ACTIVITY,
                    },
                )
                response.raise_for_status()
                created += response.json()["created"]
                if autoanalyze and (start // args.batch + 1) % ANALYZE_EVERY_BATCHES == 0:
                    asyncio.run(analyze(registry_db))  # as autovacuum would; counted in the import time
        seed_seconds = time.perf_counter() - started
        rows.append(
            (
                "bulk import into PostgreSQL",
                f"{created / seed_seconds:,.0f} registrations/s "
                f"({created:,} in {seed_seconds:.0f} s, batches of {args.batch}"
                + (f"; autovacuum off: ANALYZE every {ANALYZE_EVERY_BATCHES} batches, timed)" if autoanalyze else ")"),
            )
        )
        asyncio.run(analyze(registry_db))

        reader = token("mip-west-brabant")
        with httpx.Client(timeout=60) as http:
            listing = http.get(
                gateway + "/registry/v1/registrations?pageSize=1",
                headers={"Authorization": f"Bearer {reader}", "X-Processing-Activity": MIP_ACTIVITY},
            ).json()
        registration_id = listing["items"][0]["id"]

        # GET /registrations/{id}: direct and through the gateway, interleaved runs.
        direct, proxied, cpu_per_request = [], [], []
        phase["name"] = "reading"
        for _ in range(args.runs):
            reader = token("mip-west-brabant")
            direct.append(
                wrk(f"{registry}/v1/registrations/{registration_id}", reader, args.duration, args.connections)
            )
            before = cpu_seconds(pids["gateway"])
            result = wrk(
                f"{gateway}/registry/v1/registrations/{registration_id}", reader, args.duration, args.connections
            )
            cpu_per_request.append((cpu_seconds(pids["gateway"]) - before) / max(1, result["requests"]) * 1e6)
            proxied.append(result)

        def med(results: list[dict[str, float]], key: str) -> float:
            return statistics.median(r[key] for r in results)

        rows += [
            (
                f"GET /registrations/{{id}} direct (wrk -c{args.connections})",
                f"{med(direct, 'rps'):,.0f} req/s, p50 {med(direct, 'p50'):.1f} ms, p99 {med(direct, 'p99'):.1f} ms",
            ),
            (
                "GET /registrations/{id} through the gateway",
                f"{med(proxied, 'rps'):,.0f} req/s, p50 {med(proxied, 'p50'):.1f} ms, p99 {med(proxied, 'p99'):.1f} ms",
            ),
            ("through-gateway / direct throughput", f"{med(proxied, 'rps') / med(direct, 'rps'):.0%}"),
            ("gateway CPU per proxied request", f"{statistics.median(cpu_per_request):,.0f} µs"),
            ("non-2xx answers during the load runs", f"{sum(r['errors'] for r in direct + proxied):,.0f}"),
        ]

        stats_token = token("national")
        housing_token = token("noord-brabant")
        phase["name"] = "statistics"
        with httpx.Client(timeout=120) as http:
            for path in ("work-residence", "municipalities"):
                elapsed, status, size = timed_get(http, f"{gateway}/registry/v1/statistics/{path}", stats_token)
                at_registry, _, _ = timed_get(http, f"{registry}/v1/statistics/{path}", stats_token)
                rows.append(
                    (
                        f"GET /statistics/{path} ({args.registrations:,} registrations, national client)",
                        f"{elapsed:,.0f} ms through the gateway, {at_registry:,.0f} ms at the registry "
                        f"(HTTP {status}, {size / 1e6:.1f} MB)",
                    )
                )
            for label, query in (("West-Brabant", "regionCode=west-brabant"), ("province PV30", "provinceCode=PV30")):
                elapsed, status, _ = timed_get(http, f"{gateway}/housing/v1/fair-share?{query}", housing_token)
                rows.append(
                    (
                        f"GET /fair-share {label} through the gateway",
                        f"{elapsed:,.0f} ms (HTTP {status})" if status == 200 else f"n/a (HTTP {status})",
                    )
                )
        stop.set()
        sampler.join()
        for name in COMPONENTS:
            peaks = ", ".join(f"{label} {max(samples):.0f} MB" for label, samples in loaded[name].items() if samples)
            rows.append((f"resident memory {name} (peak per phase)", f"idle {idle[name]:.0f} MB; {peaks}"))
    finally:
        stack.send_signal(signal.SIGINT)
        try:
            stack.wait(timeout=60)
        except subprocess.TimeoutExpired:
            stack.kill()

    header = (
        f"# Benchmark {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"PostgreSQL on the same machine; wrk -t1 -c{args.connections} -d{args.duration}s on loopback; "
        f"medians of {args.runs} runs.\n\n"
    )
    table = "| measure | result |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.md").write_text(header + table)
    (RESULTS / f"bench-{args.registrations}.md").write_text(header + table)
    print("\n" + header + table)


ANALYZE_EVERY_BATCHES = 20  # 100,000 registrations at the default batch size


async def autovacuum_off(url: str) -> bool:
    conn = await asyncpg.connect(url)
    try:
        return str(await conn.fetchval("SHOW autovacuum")) == "off"
    finally:
        await conn.close()


async def analyze(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
