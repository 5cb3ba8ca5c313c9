"""Gateway CPU per proxied request, layer by layer (never part of `make test`).

    .venv/bin/python bench/gateway_cpu.py [--duration 8] [--runs 3] [--variants full,log-warning,...]
    .venv/bin/python bench/gateway_cpu.py --profile full      # py-spy of one run, inclusive % per layer

Starts, in subprocesses on 127.0.0.1:

* a static upstream (raw asyncio + uvloop, one fixed JSON body for every request, keep-alive), so the
  upstream costs nothing interesting;
* the real gateway app (`gateway.main:create_app`) under uvicorn with the arguments `lmx up` uses
  (`lmx_cli.stack.UVICORN_ARGS`), on a fresh SQLite database with the demo clients;

takes a token for the demo client `halderberge` (scope `registry:read`) from `/oauth/token`, then runs
`wrk -t1 -c32 -d<duration>s` against `GET /registry/v1/registrations/{id}` RUNS times per variant
(variants interleaved, after a 1 s warm-up) and prints the median gateway CPU per request
(`/proc/<pid>/stat` utime+stime of the gateway process / requests served), the kernel (stime)
part of it, and the median req/s. `--upstream-delay-ms 180` makes the upstream answer as slowly
as the registry does in `make bench` (~175 req/s at 32 connections), where fixed per-request
costs (wake-ups, system calls, cold caches) weigh more than at thousands of requests per second.

Variants (each a separate gateway process):

* `full`          the gateway as `lmx up` starts it: access log at INFO, rate limit on;
* `log-warning`   GATEWAY_LOG_LEVEL=WARNING: no access-log line (the setting `make bench` uses);
* `no-ratelimit`  access log at INFO, the rate limiter replaced by one that always allows (bench only);
* `bare`          neither access log nor rate limit;
* `floor`         not the gateway: a minimal raw-ASGI aiohttp proxy (no auth, no headers, no log) under
                  the same uvicorn settings, the floor this machine gives for uvicorn + aiohttp.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PATH = "/registry/v1/registrations/0b6f3c3e-5d1e-4c59-9a3c-2f0f8a7c1d11"
BODY = json.dumps(
    {
        "id": "0b6f3c3e-5d1e-4c59-9a3c-2f0f8a7c1d11",
        "status": "active",
        "work": {"municipalityCode": "GM1655"},
        "residence": {"municipalityCode": "GM1655"},
        "arrivalDate": "2026-01-05",
    }
).encode()
VARIANTS: dict[str, dict[str, str]] = {
    "full": {"target": "gateway.main:create_app", "GATEWAY_LOG_LEVEL": "INFO"},
    "log-warning": {"target": "gateway.main:create_app", "GATEWAY_LOG_LEVEL": "WARNING"},
    "no-ratelimit": {"target": "bench.gateway_cpu:gateway_without_rate_limit", "GATEWAY_LOG_LEVEL": "INFO"},
    "bare": {"target": "bench.gateway_cpu:gateway_without_rate_limit", "GATEWAY_LOG_LEVEL": "WARNING"},
    "floor": {"target": "bench.gateway_cpu:floor_proxy", "GATEWAY_LOG_LEVEL": "WARNING"},
}
# Inclusive share of profile samples per layer: (label, regex on "function (file)" frames).
LAYERS: tuple[tuple[str, str], ...] = (
    ("uvicorn httptools protocol (parse, transport)", r"uvicorn/protocols/http/httptools_impl"),
    ("Starlette/FastAPI app + ServerErrorMiddleware", r"starlette/(applications|middleware/errors)\.py"),
    ("RequestContextMiddleware (whole, incl. proxy)", r"__call__ \(lmx_common/middleware\.py"),
    ("  access log (logging + JSON formatter)", r"lmx_common/logging\.py|logging/__init__\.py"),
    ("  trace context / transaction id", r"lmx_common/tracing\.py"),
    ("ProxyMiddleware (whole)", r"gateway/proxy\.py"),
    ("  token verification", r"verify \(lmx_common/auth\.py"),
    ("  route match", r"match \(gateway/routes\.py"),
    ("  rate limiter", r"gateway/ratelimit\.py"),
    ("  aiohttp client (request + response)", r"aiohttp/"),
    ("asyncio/uvloop event loop (outside handlers)", r"^<loop>$"),
)


# --- processes started by this script -------------------------------------------------------------


def gateway_without_rate_limit() -> Any:
    """Bench only: the gateway with a rate limiter that always allows, to show what limiting costs."""
    import gateway.main
    from gateway.ratelimit import RateLimiter

    class AllowAll(RateLimiter):
        async def check(self, key: str, anonymous: bool = False) -> float | None:
            return None

    gateway.main.RateLimiter = AllowAll  # type: ignore[attr-defined]
    return gateway.main.create_app()


def floor_proxy() -> Any:
    """A minimal raw-ASGI proxy on one pooled aiohttp session: what uvicorn + aiohttp cost by themselves."""
    import aiohttp

    upstream = os.environ["GATEWAY_REGISTRY_URL"]
    state: dict[str, aiohttp.ClientSession] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    state["s"] = aiohttp.ClientSession(
                        connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=30), auto_decompress=False
                    )
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await state["s"].close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path = scope["path"].partition("/registry")[2] or "/"
        if path.endswith("/health/ready"):
            path = "/health/ready"
        async with state["s"].get(upstream + path) as response:
            body = await response.read()
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                }
            )
        await send({"type": "http.response.body", "body": body})

    return app


def serve_static_upstream(port: int, delay_ms: float = 0.0) -> None:
    """HTTP/1.1 keep-alive server answering every request with the same 200 JSON body (after delay_ms)."""
    import uvloop

    response = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
        + str(len(BODY)).encode()
        + b'\r\netag: "1"\r\n\r\n'
        + BODY
    )

    class Static(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: asyncio.Transport = transport  # type: ignore[assignment]
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while True:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buffer[:end].lower()
                length = re.search(rb"\r\ncontent-length:\s*(\d+)", head)
                total = end + 4 + (int(length.group(1)) if length else 0)
                if len(self.buffer) < total:
                    return
                self.buffer = self.buffer[total:]
                if delay_ms:
                    asyncio.get_running_loop().call_later(delay_ms / 1000, self.transport.write, response)
                else:
                    self.transport.write(response)

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Static, HOST, port)
        async with server:
            await server.serve_forever()

    uvloop.run(main())


# --- the harness ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def wait_http(url: str, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def wrk(url: str, token: str, duration: int) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            "-c32",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "-H",
            f"Authorization: Bearer {token}",
            "-H",
            "X-Processing-Activity: lmx-registration",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=duration + 30,
        check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"requests": requests, "non2xx": non2xx, "rps": rps}


class Bench:
    def __init__(self, upstream_delay_ms: float = 0.0) -> None:
        self.upstream_delay_ms = upstream_delay_ms
        self.workdir = Path(tempfile.mkdtemp(prefix="lmx-gwcpu-"))
        self.processes: list[subprocess.Popen[bytes]] = []
        self.upstream_port = free_port()
        self.env = dict(os.environ)
        self.env.update(
            PYTHONPATH=str(ROOT),
            GATEWAY_DATABASE_URL=f"sqlite+aiosqlite:///{self.workdir}/gateway.db",
            GATEWAY_RATE_LIMIT="100000000/minute",  # on, but never reached: its cost is what we measure
            **{
                f"GATEWAY_{s}_URL": f"http://{HOST}:{self.upstream_port}"
                for s in ("REGISTRY", "CERTIFICATION", "HOUSING")
            },
        )

    def start(
        self, argv: list[str], env: dict[str, str] | None = None, log: str = "upstream"
    ) -> subprocess.Popen[bytes]:
        with open(self.workdir / f"{log}.log", "ab") as out:
            process = subprocess.Popen(
                argv, env=env or self.env, cwd=self.workdir, stdout=out, stderr=out, start_new_session=True
            )
        self.processes.append(process)
        return process

    def prepare(self) -> None:
        subprocess.run(
            [str(BIN / "lmx"), "migrate", "--only", "gateway"],
            env=self.env,
            cwd=self.workdir,
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [str(BIN / "lmx"), "clients", "demo"], env=self.env, cwd=self.workdir, check=True, capture_output=True
        )
        upstream = self.start(
            [
                sys.executable,
                __file__,
                "--serve-upstream",
                str(self.upstream_port),
                "--upstream-delay-ms",
                str(self.upstream_delay_ms),
            ]
        )
        wait_http(f"http://{HOST}:{self.upstream_port}/", upstream)

    def start_gateway(self, variant: str) -> tuple[subprocess.Popen[bytes], str]:
        sys.path.insert(0, str(ROOT))
        from lmx_cli.stack import UVICORN_ARGS

        name, _, tree = variant.partition("@")
        variant = name
        port = free_port()
        env = dict(
            self.env, GATEWAY_ISSUER=f"http://{HOST}:{port}", GATEWAY_LOG_LEVEL=VARIANTS[variant]["GATEWAY_LOG_LEVEL"]
        )
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            VARIANTS[variant]["target"],
            "--factory",
            "--host",
            HOST,
            "--port",
            str(port),
            *UVICORN_ARGS,
        ]
        if tree:  # the same variant of another checkout of the code (--baseline), e.g. before a change
            env["PYTHONPATH"] = tree
        process = self.start(argv, env, log=f"gateway-{variant}{'-baseline' if tree else ''}")
        base = f"http://{HOST}:{port}"
        wait_http(base + "/health/live", process)
        return process, base

    def token(self, base: str) -> str:
        secret = json.loads((self.workdir / "var" / "demo-clients.json").read_text())["halderberge"]["clientSecret"]
        request = urllib.request.Request(  # noqa: S310 - loopback
            base + "/oauth/token",
            data=urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "registry:read"}).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        import base64

        request.add_header("Authorization", "Basic " + base64.b64encode(f"halderberge:{secret}".encode()).decode())
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return str(json.load(response)["access_token"])

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def measure(bench: Bench, variants: list[str], runs: int, duration: int) -> dict[str, list[dict[str, float]]]:
    gateways = {v: bench.start_gateway(v) for v in variants}
    tokens = {}
    for v, (_, base) in gateways.items():
        tokens[v] = bench.token(base) if v != "floor" else "unused"
        wrk(base + PATH, tokens[v], 1)  # warm-up: connections, caches
    results: dict[str, list[dict[str, float]]] = collections.defaultdict(list)
    for run in range(runs):
        for v, (process, base) in gateways.items():
            user, system = cpu_seconds(process.pid)
            result = wrk(base + PATH, tokens[v], duration)
            user_after, system_after = cpu_seconds(process.pid)
            served = max(1, result["requests"])
            result["cpu_us"] = (user_after - user + system_after - system) / served * 1e6
            result["sys_us"] = (system_after - system) / served * 1e6
            results[v].append(result)
            name = v.partition("@")[0] + (" (baseline)" if "@" in v else "")
            print(
                f"  run {run + 1} {name:<24} {result['cpu_us']:7.0f} µs/req {result['rps']:8.0f} req/s"
                f" non-2xx {int(result['non2xx'])}",
                file=sys.stderr,
                flush=True,
            )
    return results


def profile(bench: Bench, variant: str, duration: int, out: Path) -> None:
    """py-spy (raw collapsed stacks) during one wrk run; prints the inclusive share of each layer."""
    process, base = bench.start_gateway(variant)
    token = bench.token(base) if variant != "floor" else ""
    wrk(base + PATH, token, 1)
    raw = out.with_suffix(".txt")
    spy = subprocess.Popen(
        [
            str(BIN / "py-spy"),
            "record",
            "--pid",
            str(process.pid),
            "--rate",
            "400",
            "--format",
            "raw",
            "-o",
            str(raw),
            "--duration",
            str(duration + 1),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    wrk(base + PATH, token, duration)
    spy.wait(timeout=duration + 60)
    total = 0
    layers = collections.Counter[str]()
    self_time = collections.Counter[str]()
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        total += count
        self_time[re.sub(r":\d+\)", ")", frames[-1])] += count
        in_handler = any("lmx_common/" in f or "gateway/" in f or "starlette/" in f for f in frames)
        for label, pattern in LAYERS:
            if pattern == "^<loop>$":
                if not in_handler:
                    layers[label] += count
            elif any(re.search(pattern, f) for f in frames):
                layers[label] += count
    print(f"\nprofile of '{variant}' ({total} samples at 400 Hz, {raw}): inclusive share per layer")
    for label, _ in LAYERS:
        print(f"  {label:<50} {100 * layers[label] / max(1, total):5.1f}%")
    print("\ntop self time:")
    for name, count in self_time.most_common(25):
        print(f"  {100 * count / total:5.1f}%  {name[:150]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--variants", default="full,log-warning,no-ratelimit,bare,floor")
    parser.add_argument("--profile", metavar="VARIANT", help="profile one variant with py-spy instead")
    parser.add_argument(
        "--baseline",
        metavar="DIR",
        help="also run each gateway variant from this checkout (git worktree or archive), interleaved",
    )
    parser.add_argument(
        "--upstream-delay-ms",
        type=float,
        default=0.0,
        help="the upstream answers after this delay (180 gives the ~175 req/s regime of `make bench`)",
    )
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_static_upstream(args.serve_upstream, args.upstream_delay_ms)
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed")
    bench = Bench(args.upstream_delay_ms)
    try:
        bench.prepare()
        if args.profile:
            profile(
                bench, args.profile, args.duration, Path(tempfile.gettempdir()) / f"lmx-gateway-profile-{args.profile}"
            )
            return
        variants = [v.strip() for v in args.variants.split(",") if v.strip()]
        if args.baseline:
            tree = str(Path(args.baseline).resolve())
            variants = [x for v in variants for x in ((v, f"{v}@{tree}") if v != "floor" else (v,))]
        results = measure(bench, variants, args.runs, args.duration)
    finally:
        bench.stop()
    print(
        f"\nwrk -t1 -c32 -d{args.duration}s GET {PATH} (static upstream, delay {args.upstream_delay_ms:g} ms);"
        f" medians of {args.runs} runs"
    )
    print("| variant | gateway CPU µs/request | of which kernel | req/s | non-2xx |\n|---|---|---|---|---|")
    for v in variants:
        rows = results[v]
        label = v.partition("@")[0] + (" (baseline)" if "@" in v else "")
        print(
            f"| {label} | {statistics.median(r['cpu_us'] for r in rows):,.0f} | "
            f"{statistics.median(r['sys_us'] for r in rows):,.0f} | "
            f"{statistics.median(r['rps'] for r in rows):,.0f} | {int(sum(r['non2xx'] for r in rows))} |"
        )


if __name__ == "__main__":
    main()
