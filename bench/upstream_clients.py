"""Benchmark: which upstream HTTP client should a Starlette/FastAPI gateway use to proxy requests?

Compares ``httpx.AsyncClient`` with ``aiohttp.ClientSession`` against a tiny FastAPI upstream, all on
127.0.0.1:

* part A: 1,000 sequential GETs through one shared client, 5 repetitions (client-side latency and CPU);
* part B: a minimal catch-all Starlette proxy built on each client (one pooled client created in the
  lifespan), loaded with ``wrk -t1 -c32 -d5s`` (or a bounded asyncio load loop when wrk is absent),
  3 runs per target, plus the upstream hit directly as a baseline.

Run from the repository root::

    .venv/bin/python bench/upstream_clients.py

The result table is printed and written to ``bench/results/upstream_clients.txt``. Every subprocess
(upstream, proxies) is stopped at the end, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.responses import Response as StarletteResponse

HOST = "127.0.0.1"
RESULTS_FILE = Path(__file__).resolve().parent / "results" / "upstream_clients.txt"

SEQ_REQUESTS = 1_000
SEQ_REPS = 5
SEQ_WARMUP = 100
LOAD_THREADS = 1
LOAD_CONNECTIONS = 32
LOAD_SECONDS = 5
LOAD_WARMUP_SECONDS = 1
LOAD_RUNS = 3
POOL_LIMIT = 100

# Hop-by-hop headers (RFC 9110 section 7.6.1) are never forwarded; the body is re-framed by the server.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
DROP_REQUEST_HEADERS = HOP_BY_HOP | {b"host", b"content-length"}
DROP_RESPONSE_HEADERS = HOP_BY_HOP | {b"content-length", b"content-encoding", b"date", b"server"}


# --------------------------------------------------------------------------------------------------------
# Subprocess roles: upstream app and the two proxies
# --------------------------------------------------------------------------------------------------------


def build_upstream_app() -> Any:
    from fastapi import FastAPI

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/item/{item_id}")
    async def get_item(item_id: int) -> dict[str, Any]:
        return {
            "id": item_id,
            "name": f"item-{item_id}",
            "status": "active",
            "owner": {"id": 4711, "name": "Example Employer B.V.", "country": "NL"},
            "tags": ["labour", "migration", "exchange", "registry"],
            "description": "A small fixed payload that stands in for a typical registry record.",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-06-01T12:34:56Z",
            "version": 3,
        }

    return app


def _raw_target(scope: MutableMapping[str, Any]) -> str:
    """Path and query exactly as the client sent them (still percent-encoded)."""
    path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    query = scope["query_string"].decode("latin-1")
    return f"{path}?{query}" if query else path


def _forward_headers(raw: Sequence[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in raw if k.lower() not in DROP_REQUEST_HEADERS]


def _response_headers(raw: Sequence[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(k.lower(), v) for k, v in raw if k.lower() not in DROP_RESPONSE_HEADERS]


def _make_response(status: int, body: bytes, raw_headers: Sequence[tuple[bytes, bytes]]) -> StarletteResponse:
    from starlette.responses import Response

    response = Response(content=body, status_code=status)  # sets content-length
    response.raw_headers.extend(_response_headers(raw_headers))
    return response


def build_proxy_app(kind: str, upstream: str) -> Any:
    """A plain Starlette catch-all proxy; one pooled client is created in the lifespan."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    state: dict[str, Any] = {}

    if kind == "httpx":
        import httpx

        @contextlib.asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            limits = httpx.Limits(max_connections=POOL_LIMIT, max_keepalive_connections=POOL_LIMIT)
            async with httpx.AsyncClient(base_url=upstream, limits=limits, timeout=10.0) as client:
                state["client"] = client
                yield

        async def proxy(request: Request) -> Response:
            client: httpx.AsyncClient = state["client"]
            upstream_request = client.build_request(
                request.method,
                httpx.URL(upstream + _raw_target(request.scope)),
                headers=_forward_headers(request.headers.raw),
                content=await request.body(),
            )
            upstream_response = await client.send(upstream_request)
            return _make_response(
                upstream_response.status_code, upstream_response.content, upstream_response.headers.raw
            )

    elif kind == "aiohttp":
        import aiohttp
        from multidict import CIMultiDict
        from yarl import URL

        @contextlib.asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            connector = aiohttp.TCPConnector(limit=POOL_LIMIT, keepalive_timeout=30)
            timeout = aiohttp.ClientTimeout(total=10.0)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                state["session"] = session
                yield

        async def proxy(request: Request) -> Response:
            session: aiohttp.ClientSession = state["session"]
            headers = CIMultiDict(
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in _forward_headers(request.headers.raw)
            )
            async with session.request(
                request.method,
                URL(upstream + _raw_target(request.scope), encoded=True),  # already percent-encoded: do not re-quote
                headers=headers,
                data=await request.body() or None,
                allow_redirects=False,
            ) as upstream_response:
                body = await upstream_response.read()
                return _make_response(upstream_response.status, body, upstream_response.raw_headers)

    else:
        raise ValueError(f"unknown proxy kind {kind!r}")

    return Starlette(routes=[Route("/{path:path}", proxy, methods=methods)], lifespan=lifespan)


def serve(app: Any, port: int) -> None:
    import uvicorn

    uvicorn.run(app, host=HOST, port=port, loop="uvloop", http="httptools", access_log=False, log_level="warning")


# --------------------------------------------------------------------------------------------------------
# Process management and measurement helpers
# --------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # fields after "pid (comm)"; fields[0] is field 3
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


class Processes:
    """Starts this script in its server roles and stops every child it started."""

    def __init__(self) -> None:
        self.children: list[subprocess.Popen[bytes]] = []

    def start(self, *role_args: str, probe_path: str) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        cmd = [sys.executable, str(Path(__file__).resolve()), *role_args, "--port", str(port)]
        proc = subprocess.Popen(cmd)
        self.children.append(proc)
        base = f"http://{HOST}:{port}"
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{' '.join(role_args)} exited early with code {proc.returncode}")
            try:
                with urllib.request.urlopen(base + probe_path, timeout=1) as resp:  # noqa: S310 - loopback
                    if resp.status == 200:
                        return proc, base
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(role_args)} did not become ready on {base}")
            time.sleep(0.1)

    def stop_all(self) -> None:
        for proc in self.children:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.children:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                print(f"pid {proc.pid} ignored SIGTERM for 5s: killing it", file=sys.stderr)
                proc.kill()
                proc.wait(timeout=5)
        self.children.clear()


@dataclass
class Row:
    scenario: str
    target: str
    rps: list[float]
    p50_ms: list[float]
    p99_ms: list[float]
    client_cpu_us: list[float]  # CPU per request of the process running the client (proxy in part B)
    upstream_cpu_us: list[float]
    errors: int = 0


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def median_or_nan(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --------------------------------------------------------------------------------------------------------
# Part A: sequential latency through one shared client
# --------------------------------------------------------------------------------------------------------


async def part_a(base: str, upstream_pid: int) -> list[Row]:
    import aiohttp
    import httpx

    rows = {
        name: Row("A: 1000 sequential GETs, 1 conn", name, [], [], [], [], [])
        for name in ("httpx.AsyncClient", "aiohttp.ClientSession")
    }
    limits = httpx.Limits(max_connections=POOL_LIMIT, max_keepalive_connections=POOL_LIMIT)
    async with (
        httpx.AsyncClient(base_url=base, limits=limits, timeout=10.0) as hx,
        aiohttp.ClientSession(
            base_url=base, connector=aiohttp.TCPConnector(limit=POOL_LIMIT, keepalive_timeout=30)
        ) as ah,
    ):

        async def get_httpx(path: str) -> int:
            response = await hx.get(path)
            return len(response.content) if response.status_code == 200 else -1

        async def get_aiohttp(path: str) -> int:
            async with ah.get(path) as response:
                body = await response.read()
                return len(body) if response.status == 200 else -1

        clients: dict[str, Callable[[str], Any]] = {
            "httpx.AsyncClient": get_httpx,
            "aiohttp.ClientSession": get_aiohttp,
        }
        for get in clients.values():
            for i in range(SEQ_WARMUP):
                await get(f"/item/{i}")
        for rep in range(SEQ_REPS):
            # alternate the order so slow drift on a noisy machine does not favour one client
            order = list(clients.items()) if rep % 2 == 0 else list(reversed(clients.items()))
            for name, get in order:
                latencies: list[float] = []
                errors = 0
                up0, cpu0, t0 = cpu_seconds(upstream_pid), time.process_time(), time.perf_counter()
                for i in range(SEQ_REQUESTS):
                    start = time.perf_counter()
                    if await get(f"/item/{i}") < 0:
                        errors += 1
                    latencies.append(time.perf_counter() - start)
                elapsed = time.perf_counter() - t0
                cpu, up = time.process_time() - cpu0, cpu_seconds(upstream_pid) - up0
                row = rows[name]
                row.rps.append(SEQ_REQUESTS / elapsed)
                row.p50_ms.append(statistics.median(latencies) * 1e3)
                row.p99_ms.append(quantile(latencies, 0.99) * 1e3)
                row.client_cpu_us.append(cpu / SEQ_REQUESTS * 1e6)
                row.upstream_cpu_us.append(up / SEQ_REQUESTS * 1e6)
                row.errors += errors
    return list(rows.values())


# --------------------------------------------------------------------------------------------------------
# Part B: proxy throughput under load
# --------------------------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _wrk_duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"cannot parse wrk duration {text!r}")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def run_wrk(url: str, seconds: int) -> LoadResult:
    cmd = [
        "wrk",
        f"-t{LOAD_THREADS}",
        f"-c{LOAD_CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "--latency",
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _wrk_duration_ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _wrk_duration_ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = 0
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(match.group(1))
    if match := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in match.groups())
    return LoadResult(requests, rps, p50, p99, errors)


async def _python_load(url: str, seconds: float) -> LoadResult:
    """Fallback closed-loop load generator (LOAD_CONNECTIONS workers, bounded by ``seconds``)."""
    import aiohttp

    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=LOAD_CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while (start := time.perf_counter()) < deadline:
                try:
                    async with session.get(url) as response:
                        await response.read()
                        if response.status != 200:
                            errors += 1
                except aiohttp.ClientError:
                    errors += 1
                latencies.append(time.perf_counter() - start)

        t0 = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(LOAD_CONNECTIONS))), timeout=seconds + 10)
        elapsed = time.perf_counter() - t0
    return LoadResult(
        len(latencies),
        len(latencies) / elapsed,
        quantile(latencies, 0.5) * 1e3,
        quantile(latencies, 0.99) * 1e3,
        errors,
    )


def run_load(url: str, seconds: int, use_wrk: bool) -> LoadResult:
    if use_wrk:
        return run_wrk(url, seconds)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(_python_load(url, seconds))


def part_b(targets: dict[str, tuple[int, str]], upstream_pid: int, use_wrk: bool) -> list[Row]:
    tool = f"wrk -t{LOAD_THREADS} -c{LOAD_CONNECTIONS} -d{LOAD_SECONDS}s" if use_wrk else "asyncio load"
    rows = {name: Row(f"B: {tool}", name, [], [], [], [], []) for name in targets}
    for _pid, base in targets.values():
        run_load(base + "/item/1", LOAD_WARMUP_SECONDS, use_wrk)  # warm up pools and caches
    for _ in range(LOAD_RUNS):
        for name, (pid, base) in targets.items():  # interleave targets across runs
            proxy0 = cpu_seconds(pid) if pid != upstream_pid else 0.0
            up0 = cpu_seconds(upstream_pid)
            result = run_load(base + "/item/1", LOAD_SECONDS, use_wrk)
            up = cpu_seconds(upstream_pid) - up0
            row = rows[name]
            row.rps.append(result.rps)
            row.p50_ms.append(result.p50_ms)
            row.p99_ms.append(result.p99_ms)
            row.upstream_cpu_us.append(up / result.requests * 1e6)
            if pid != upstream_pid:
                row.client_cpu_us.append((cpu_seconds(pid) - proxy0) / result.requests * 1e6)
            row.errors += result.errors
    return list(rows.values())


# --------------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------------


def _fmt(value: float, digits: int = 0) -> str:
    return "-" if value != value else f"{value:,.{digits}f}"  # NaN -> "-"


def render(rows: list[Row], header: list[str], footer: list[str]) -> str:
    columns = [
        "scenario",
        "target",
        "req/s (median)",
        "req/s min-max",
        "p50 ms",
        "p99 ms",
        "client/proxy CPU us/req",
        "upstream CPU us/req",
        "errors",
    ]
    table = [columns]
    for row in rows:
        table.append(
            [
                row.scenario,
                row.target,
                _fmt(median_or_nan(row.rps)),
                f"{_fmt(min(row.rps))}-{_fmt(max(row.rps))}",
                _fmt(median_or_nan(row.p50_ms), 3),
                _fmt(median_or_nan(row.p99_ms), 3),
                _fmt(median_or_nan(row.client_cpu_us)),
                _fmt(median_or_nan(row.upstream_cpu_us)),
                str(row.errors),
            ]
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]

    def line(cells: list[str]) -> str:
        return (
            "| "
            + " | ".join(
                c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            + " |"
        )

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [line(table[0]), sep, *(line(cells) for cells in table[1:])]
    return "\n".join([*header, "", *body, "", *footer]) + "\n"


def ratios(rows: list[Row]) -> list[str]:
    """One-line comparisons; "xN lower" means httpx's value divided by aiohttp's."""
    by = {(r.scenario[:1], r.target): r for r in rows}
    med = median_or_nan
    out: list[str] = []
    a_hx, a_ah = by.get(("A", "httpx.AsyncClient")), by.get(("A", "aiohttp.ClientSession"))
    if a_hx and a_ah:
        p50 = med(a_hx.p50_ms) / med(a_ah.p50_ms)
        cpu = med(a_hx.client_cpu_us) / med(a_ah.client_cpu_us)
        out.append(f"A  aiohttp vs httpx: p50 latency x{p50:.2f} lower, client CPU/req x{cpu:.2f} lower")
    b_hx, b_ah = by.get(("B", "proxy httpx")), by.get(("B", "proxy aiohttp"))
    if b_hx and b_ah:
        rps = med(b_ah.rps) / med(b_hx.rps)
        p50 = med(b_hx.p50_ms) / med(b_ah.p50_ms)
        p99 = med(b_hx.p99_ms) / med(b_ah.p99_ms)
        cpu = med(b_hx.client_cpu_us) / med(b_ah.client_cpu_us)
        out.append(
            f"B  aiohttp vs httpx proxy: req/s x{rps:.2f} higher, p50 x{p50:.2f} lower, "
            f"p99 x{p99:.2f} lower, proxy CPU/req x{cpu:.2f} lower"
        )
    b_dir = by.get(("B", "upstream direct"))
    if b_dir and b_hx and b_ah:
        hx, ah = med(b_hx.rps) / med(b_dir.rps), med(b_ah.rps) / med(b_dir.rps)
        out.append(f"B  proxy req/s relative to upstream direct: httpx {hx:.0%}, aiohttp {ah:.0%}")
    return out


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    import uvloop

    return uvloop.new_event_loop


def versions() -> str:
    from importlib.metadata import version

    pkgs = ["fastapi", "starlette", "uvicorn", "uvloop", "httptools", "httpx", "httpcore", "anyio", "aiohttp"]
    return ", ".join(f"{p} {version(p)}" for p in pkgs)


def sniffio_note() -> str:
    """httpcore runs ``import sniffio`` each time it sets up a lock; without sniffio that import fails."""
    from importlib.util import find_spec

    if find_spec("sniffio") is not None:
        return "sniffio: installed"
    return (
        "sniffio: NOT installed -> httpcore retries a failing 'import sniffio' (a sys.path scan) "
        "several times per request; this inflates httpx's cost"
    )


# --------------------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------------------


def orchestrate() -> None:
    use_wrk = shutil.which("wrk") is not None
    procs = Processes()
    started = time.monotonic()
    try:
        upstream, upstream_base = procs.start("upstream", probe_path="/item/0")
        print(f"upstream pid {upstream.pid} on {upstream_base}", file=sys.stderr)

        print("part A: sequential GETs ...", file=sys.stderr)
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            rows = runner.run(part_a(upstream_base, upstream.pid))

        targets: dict[str, tuple[int, str]] = {"upstream direct": (upstream.pid, upstream_base)}
        for kind in ("httpx", "aiohttp"):
            proxy, base = procs.start("proxy", kind, "--upstream", upstream_base, probe_path="/item/0")
            targets[f"proxy {kind}"] = (proxy.pid, base)
            print(f"proxy {kind} pid {proxy.pid} on {base}", file=sys.stderr)

        print(f"part B: load ({'wrk' if use_wrk else 'asyncio fallback'}) ...", file=sys.stderr)
        rows += part_b(targets, upstream.pid, use_wrk)
    finally:
        procs.stop_all()

    header = [
        "Upstream HTTP client benchmark (bench/upstream_clients.py)",
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M:%SZ}; host: {platform.machine()}, {os.cpu_count()} CPUs; "
        f"Python {platform.python_version()}",
        f"versions: {versions()}",
        sniffio_note(),
        "servers: uvicorn, loop=uvloop, http=httptools, access log off, 1 worker each; all on 127.0.0.1",
        f"A: {SEQ_REQUESTS} sequential GET /item/{{i}} per rep, {SEQ_REPS} reps (alternating order), "
        f"{SEQ_WARMUP} warm-up requests; medians over reps; CPU = this client process",
        f"B: {LOAD_RUNS} runs x {LOAD_SECONDS}s per target, interleaved, "
        f"after {LOAD_WARMUP_SECONDS}s warm-up; medians over runs; "
        "CPU = proxy process (/proc/<pid>/stat utime+stime) / requests",
        f"clients: one pooled client per process, pool limit {POOL_LIMIT} "
        f"(httpx max_keepalive_connections={POOL_LIMIT}, aiohttp TCPConnector(limit={POOL_LIMIT}))",
    ]
    footer = [*ratios(rows), f"total runtime {time.monotonic() - started:.0f}s"]
    report = render(rows, header, footer)
    print(report)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(report)
    print(f"written to {RESULTS_FILE}", file=sys.stderr)


def _sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(143)  # unwinds through the try/finally that stops the children


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", nargs="?", default="bench", choices=["bench", "upstream", "proxy"])
    parser.add_argument("kind", nargs="?", choices=["httpx", "aiohttp"], help="proxy client (role proxy)")
    parser.add_argument("--port", type=int)
    parser.add_argument("--upstream", help="upstream base URL (role proxy)")
    args = parser.parse_args(argv)

    if args.role == "upstream":
        serve(build_upstream_app(), args.port)
    elif args.role == "proxy":
        if not args.kind or not args.upstream:
            parser.error("role proxy needs KIND and --upstream")
        serve(build_proxy_app(args.kind, args.upstream), args.port)
    else:
        signal.signal(signal.SIGTERM, _sigterm)
        orchestrate()


if __name__ == "__main__":
    main()
