"""Start the gateway and the three services as processes, wait until ready, stop them on Ctrl-C.

``replicas`` > 1 starts that many processes of each, in lanes: lane r (1..N) listens on each base
port + (r-1) x ``port_step``, its gateway forwards to lane r's services and lane r's housing calls
lane r's gateway. Every lane shares the databases, the signing keys, the token issuer (lane 1's
gateway URL) and, for the rate limits, Redis: what a load balancer in front of N copies of each
component gives (docs/operations.md, "Several replicas"; ADR 0031).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from lmx_common.http_protocol import PROTOCOL

STATE_FILE = Path("var") / "stack.json"
CREDENTIALS_FILE = Path("var") / "demo-clients.json"

APPS = {
    "registry": "services.registry.main:create_app",
    "certification": "services.certification.main:create_app",
    "housing": "services.housing.main:create_app",
    "gateway": "gateway.main:create_app",
}
# How every process is served (bench/gateway_cpu.py starts the gateway with the same arguments).
UVICORN_ARGS: tuple[str, ...] = (
    "--no-access-log",  # ours is RequestContextMiddleware's; uvicorn's would print query strings
    "--no-server-header",
    "--no-proxy-headers",  # the gateway is the edge: X-Forwarded-For from callers is not trusted
    "--loop",
    "uvloop",
    "--http",
    PROTOCOL,  # httptools, answering a request it cannot parse with problem+json
    "--timeout-graceful-shutdown",
    "5",
)


MMAP_THRESHOLD = 128 * 1024  # bytes; see _environment
DEFAULT_GATEWAY_PORT = 8000


def default_gateway() -> str:
    """The gateway a command talks to unless told: the one `lmx up` runs (var/stack.json), else
    LMX_GATEWAY_PORT on this host, else port 8000."""
    try:
        gateway = json.loads(STATE_FILE.read_text())["gateway"]
        return str(gateway.get("url") or f"http://127.0.0.1:{int(gateway['port'])}")
    except (OSError, ValueError, KeyError, TypeError):
        pass
    port = os.environ.get("LMX_GATEWAY_PORT", "").strip()
    return f"http://127.0.0.1:{int(port) if port.isdigit() else DEFAULT_GATEWAY_PORT}"


def unreachable(gateway: str, exc: Exception) -> str:
    """The one line a command prints when the gateway does not answer."""
    reason = str(exc).strip() or type(exc).__name__
    return f"cannot reach the gateway at {gateway} ({reason}); start it with `lmx up`, or name another with --gateway"


def lane_ports(ports: dict[str, int], replica: int, port_step: int) -> dict[str, int]:
    """The ports of lane ``replica`` (1-based): lane 1 has the base ports."""
    return {name: port + (replica - 1) * port_step for name, port in ports.items()}


def _lane_environment(
    host: str, ports: dict[str, int], credentials: dict[str, dict[str, Any]], base: dict[str, str], issuer: str
) -> dict[str, str]:
    """A lane's environment: its own upstreams and gateway, the shared issuer."""
    env = _environment(host, ports, credentials, base | {"GATEWAY_ISSUER": base.get("GATEWAY_ISSUER", issuer)})
    gateway = f"http://{host}:{ports['gateway']}"
    for service in ("registry", "certification", "housing"):
        env[f"GATEWAY_{service.upper()}_URL"] = base.get(f"GATEWAY_{service.upper()}_URL") or (
            f"http://{host}:{ports[service]}"
        )
        env[f"{service.upper()}_JWKS_URL"] = base.get(f"{service.upper()}_JWKS_URL") or (
            gateway + "/.well-known/jwks.json"
        )
    env["HOUSING_GATEWAY_URL"] = base.get("HOUSING_GATEWAY_URL") or gateway
    return env


def _environment(
    host: str, ports: dict[str, int], credentials: dict[str, dict[str, Any]], base: dict[str, str]
) -> dict[str, str]:
    gateway = f"http://{host}:{ports['gateway']}"
    env = dict(base)
    # glibc raises its mmap threshold to the largest block freed so far; after argon2's 19 MiB hashes
    # (run in worker threads) every later big block then comes from per-thread heaps that are never
    # given back: the gateway grew by over 100 MB. A fixed threshold returns such blocks on free.
    env.setdefault("MALLOC_MMAP_THRESHOLD_", str(MMAP_THRESHOLD))
    env.setdefault("GATEWAY_ISSUER", gateway)
    for service in ("registry", "certification", "housing"):
        prefix = service.upper()
        env.setdefault(f"GATEWAY_{prefix}_URL", f"http://{host}:{ports[service]}")
        env.setdefault(f"{prefix}_JWKS_URL", gateway + "/.well-known/jwks.json")
        env.setdefault(f"{prefix}_TOKEN_ISSUER", env["GATEWAY_ISSUER"])
    env.setdefault("HOUSING_GATEWAY_URL", gateway)
    housing = credentials.get("housing-service")
    if housing:
        env.setdefault("HOUSING_CLIENT_ID", "housing-service")
        env.setdefault("HOUSING_CLIENT_SECRET", housing["clientSecret"])
    return env


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own loopback URL
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


# SIGTERM, then at most this long before SIGKILL: requests in flight get 5 s (--timeout-graceful-shutdown
# above), then a background job finishes its step under way (the delivery worker: its webhook timeout + 5 s).
STOP_SECONDS = 25


def _stop(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _serve(target: str, host: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        [sys.executable, "-m", "uvicorn", target, "--factory", "--host", host, "--port", str(port), *UVICORN_ARGS],
        env=env,
        start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
    )


def run_stack(
    host: str,
    ports: dict[str, int],
    credentials: dict[str, dict[str, Any]],
    base_env: dict[str, str],
    *,
    replicas: int = 1,
    port_step: int = 10,
) -> int:
    issuer = f"http://{host}:{ports['gateway']}"
    lanes = [lane_ports(ports, replica, port_step) for replica in range(1, replicas + 1)]
    processes: dict[str, subprocess.Popen[bytes]] = {}
    where: dict[str, int] = {}
    stopping = False

    def on_signal(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for replica, lane in enumerate(lanes, start=1):
            env = _lane_environment(host, lane, credentials, base_env, issuer)
            for name, target in APPS.items():
                # Lane 1 keeps the plain names (var/stack.json, the bench); lane r is "<name>-<r>".
                key = name if replica == 1 else f"{name}-{replica}"
                processes[key] = _serve(target, host, lane[name], env)
                where[key] = lane[name]
        # Where each process runs, for operators and the benchmark (development aid; removed on stop).
        STATE_FILE.parent.mkdir(mode=0o700, exist_ok=True)
        state: dict[str, dict[str, Any]] = {key: {"pid": p.pid, "port": where[key]} for key, p in processes.items()}
        reachable_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - compared, not bound
        state["gateway"]["url"] = f"http://{reachable_host}:{ports['gateway']}"  # for lmx token, lmx registry import
        STATE_FILE.write_text(json.dumps(state))
        deadline = time.monotonic() + 60 + 15 * (replicas - 1)
        gateways = [f"http://{host}:{lane['gateway']}" for lane in lanes]
        while not all(_ready(gateway + "/health/ready") for gateway in gateways):
            if stopping or time.monotonic() > deadline or any(p.poll() is not None for p in processes.values()):
                print("the stack did not become ready; stopping", file=sys.stderr)
                return 1
            time.sleep(0.3)
        _banner(issuer, ports, host, credentials)
        if replicas > 1:
            print(f"  {replicas} replicas of each; their ports: {json.dumps(where)}", flush=True)
        while not stopping:
            for name, process in processes.items():
                if process.poll() is not None:
                    print(f"{name} exited with {process.returncode}; stopping the stack", file=sys.stderr)
                    return 1
            time.sleep(0.3)
        print("stopping…", file=sys.stderr)
        return 0
    finally:
        _stop(processes)
        STATE_FILE.unlink(missing_ok=True)
        print("stopped", file=sys.stderr)


def _banner(gateway: str, ports: dict[str, int], host: str, credentials: dict[str, dict[str, Any]]) -> None:
    lines = [
        "",
        "Labour Migration Exchange is running (Ctrl-C stops it):",
        f"  gateway        {gateway}   (docs: {gateway}/docs)",
    ]
    for service in ("registry", "certification", "housing"):
        lines.append(f"  {service:<14} http://{host}:{ports[service]}   (through the gateway: {gateway}/{service}/v1)")
    if "halderberge" in credentials:
        # The secret stays in the credentials file (0600): the run log and the terminal get the
        # command that reads it, never the secret itself.
        lines += [
            "",
            f"Demo client credentials: {CREDENTIALS_FILE} (development only; readable by you only). Try:",
            f"  TOKEN=$(lmx token halderberge --gateway {gateway})",
            f"  curl -s -H \"Authorization: Bearer $TOKEN\" '{gateway}/registry/v1/municipalities?provinceCode=PV30'",
            "",
        ]
    print("\n".join(lines), flush=True)
