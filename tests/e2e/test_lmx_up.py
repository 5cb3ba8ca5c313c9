"""End to end: `lmx up` starts the real processes as `make run` does; a client gets a token and calls a
service through the gateway; Ctrl-C stops everything; a second run duplicates nothing."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    create_postgres_databases,
    drop_postgres_databases,
    require_postgres,
)
from tests.support.servers import free_port

LMX = str(Path(sys.executable).parent / "lmx")
COMPONENTS = ("gateway", "registry", "certification", "housing")


class Running:
    """`lmx up` in the background, its stdout collected by a thread."""

    def __init__(self, workdir: Path, ports: dict[str, int], env: dict[str, str]) -> None:
        import threading

        args = [LMX, "up"] + [f"--{name}-port={port}" for name, port in ports.items()]
        self.process = subprocess.Popen(
            args, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def wait_for_banner(self, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            output = "".join(self.lines)
            if "curl -s -H" in output:
                return output
            if self.process.poll() is not None:
                raise AssertionError(f"lmx up exited with {self.process.returncode}:\n{output}")
            time.sleep(0.2)
        raise AssertionError(f"no banner within {timeout} s:\n{''.join(self.lines)}")


def stop(running: Running) -> int:
    running.process.send_signal(signal.SIGINT)
    try:
        return running.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        running.process.kill()
        raise


def port_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture(params=["sqlite", "postgresql"])
def environment(request, tmp_path):
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "REGISTRY_", "CERTIFICATION_", "HOUSING_"))
    }
    if request.param == "sqlite":
        yield env  # the embedded default: SQLite files under ./var, as `make run` uses them
        return
    require_postgres()
    urls = create_postgres_databases(f"lmx_e2e_{os.getpid()}")
    try:
        for component, url in urls.items():
            env[f"{component.upper()}_DATABASE_URL"] = url
        yield env
    finally:
        drop_postgres_databases(urls)


def test_make_run_stack_end_to_end(tmp_path, environment):
    ports = {name: free_port() for name in COMPONENTS}
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    process = Running(tmp_path, ports, environment)
    try:
        banner = process.wait_for_banner()
        assert gateway + "/docs" in banner
        credentials = json.loads((tmp_path / "var" / "demo-clients.json").read_text())
        assert set(credentials) >= {
            "halderberge",
            "mip-west-brabant",
            "noord-brabant",
            "national",
            "inspectorate",
            "nau-certifier",
            "housing-service",
        }
        assert oct((tmp_path / "var" / "demo-clients.json").stat().st_mode & 0o777) == "0o600"

        with httpx.Client(timeout=10) as http:
            token = http.post(
                gateway + "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=("halderberge", credentials["halderberge"]["clientSecret"]),
            )
            assert token.status_code == 200, token.text
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            response = http.get(gateway + "/registry/v1/municipalities?provinceCode=PV30", headers=headers)
            assert response.status_code == 200, response.text
            assert response.json()["items"][0]["provinceName"] == "Noord-Brabant"
            region = http.get(gateway + "/housing/v1/regions/west-brabant", headers=headers)
            assert len(region.json()["municipalityCodes"]) == 16
            unauthenticated = http.get(gateway + "/registry/v1/municipalities")
            assert unauthenticated.status_code == 401
            assert unauthenticated.headers["content-type"] == "application/problem+json"
            direct = http.get(f"http://127.0.0.1:{ports['registry']}/v1/municipalities")
            assert direct.status_code == 401
            ready = http.get(gateway + "/health/ready").json()
            assert ready["checks"] == {
                "database": "up",
                "schema": "up",
                "keys": "up",
                "registry": "up",
                "certification": "up",
                "housing": "up",
            }
    finally:
        code = stop(process)
    assert code == 0
    assert all(port_closed(port) for port in ports.values())

    # Running it again creates nothing twice: same clients, same secrets, same signing key.
    process = Running(tmp_path, ports, environment)
    try:
        process.wait_for_banner()
        again = json.loads((tmp_path / "var" / "demo-clients.json").read_text())
        assert again == credentials
    finally:
        assert stop(process) == 0
    listing = subprocess.run(
        [LMX, "clients", "list"],
        cwd=tmp_path,
        env=environment | {"COLUMNS": "300"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert sum(1 for line in listing.stdout.splitlines() if "halderberge" in line) == 1
    keys = subprocess.run(
        [LMX, "keys", "list"],
        cwd=tmp_path,
        env=environment | {"COLUMNS": "300"},
        capture_output=True,
        text=True,
        check=True,
    )
    import re

    assert len(re.findall(r"[A-Za-z0-9_-]{43}", keys.stdout)) == 1
