"""End to end over the real processes (`lmx up`), through the gateway: the fair share follows the
registry, opening a location closes the gap, a revoked landlord puts its residents at risk until a
certificate is granted again, and a stopped registry gives a stale report, never a 500."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.test_lmx_up import (
    COMPONENTS,
    Running,
    environment,  # noqa: F401 - the fixture: SQLite and PostgreSQL
    stop,
)
from tests.support.housing import kvk, make_location
from tests.support.registrations import make_registration
from tests.support.servers import free_port

HALDERBERGE = "GM1655"


def _pid_of(port: int, target: str) -> int:
    """The process serving ``target`` on ``port`` (a child of `lmx up`)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if target.encode() in argv and str(port).encode() in argv:
            return int(entry.name)
    raise AssertionError(f"no process for {target} on port {port}")


def _eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.25)


def test_housing_over_the_real_processes(tmp_path, environment):  # noqa: F811 - the fixture, on both databases
    env = dict(environment)
    env["HOUSING_EVENT_POLL_SECONDS"] = "0.2"
    ports = {name: free_port() for name in COMPONENTS}
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    process = Running(tmp_path, ports, env)
    registry_pid: int | None = None
    try:
        process.wait_for_banner()
        credentials = json.loads((tmp_path / "var" / "demo-clients.json").read_text())
        with httpx.Client(base_url=gateway, timeout=20) as http:

            def token(client: str) -> dict[str, str]:
                response = http.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(client, credentials[client]["clientSecret"]),
                )
                assert response.status_code == 200, response.text
                return {"Authorization": f"Bearer {response.json()['access_token']}"}

            halderberge, nau = token("halderberge"), token("nau-certifier")

            def report() -> dict[str, Any]:
                response = http.get("/housing/v1/fair-share?regionCode=west-brabant", headers=halderberge)
                assert response.status_code == 200, response.text
                body: dict[str, Any] = response.json()
                return body

            def own(body: dict[str, Any]) -> dict[str, Any]:
                return next(i for i in body["items"] if i["municipalityCode"] == HALDERBERGE)

            # The demo's first report: lagging and on-track municipalities, from fresh registry figures.
            first = report()
            assert first["stale"] is False
            assert {i["status"] for i in first["items"]} == {"lagging", "on-track"}
            assert first["economicLocationIds"] == ["wb-borchwerf", "wb-moerdijk-logistics-park"]
            # The demo landlords whose certificates were suspended, revoked or expired.
            demo_risk = _eventually(
                lambda: (
                    {
                        i["id"]
                        for i in http.get("/housing/v1/at-risk?regionCode=west-brabant", headers=halderberge).json()[
                            "items"
                        ]
                    }
                    >= {"wb-gm1709-01", "wb-gm0777-01", "wb-gm0758-01"}
                )
            )
            assert demo_risk, "the demo's certificate events did not put the demo locations at risk"

            # Registering migrants who work in Halderberge raises its obligation.
            landlord = kvk()
            location = make_location(landlordKvkNumber=landlord, beds=20, statusDate="2026-06-01")
            created = http.post("/housing/v1/housing-locations", json=location, headers=halderberge)
            assert created.status_code == 201, created.text
            for _ in range(6):
                body = make_registration(**{"work.municipalityCode": HALDERBERGE})
                body["residence"]["housingLocationId"] = location["id"]
                registering = halderberge | {"X-Processing-Activity": "lmx-registration"}
                assert http.post("/registry/v1/registrations", json=body, headers=registering).status_code == 201
            second = report()
            assert own(second)["obligation"] == round(own(first)["obligation"] + 6, 2)
            assert own(second)["pipelineBeds"]["planned"] == own(first)["pipelineBeds"]["planned"] + 20

            # Opening the location lowers the gap by its beds.
            opened = http.post(
                f"/housing/v1/housing-locations/{location['id']}/status-changes",
                json={"status": "operational"},
                headers=halderberge,
            )
            assert opened.status_code == 200, opened.text
            third = report()
            assert own(third)["gap"] == round(own(second)["gap"] - 20, 2)
            assert own(third)["operationalBeds"] == own(second)["operationalBeds"] + 20

            # Revoking the landlord's certificate puts the location at risk with its six residents.
            organisation = {"kvkNumber": landlord, "name": "Test Wonen B.V.", "kinds": ["landlord"]}
            assert http.post("/certification/v1/organisations", json=organisation, headers=nau).status_code == 201

            def certificate(*steps: str) -> str:
                made = http.post(
                    "/certification/v1/certificates",
                    json={"kvkNumber": landlord, "scheme": "snf-housing", "validFrom": "2026-01-01"},
                    headers=nau,
                )
                assert made.status_code == 201, made.text
                for step in steps:
                    changed = http.post(
                        f"/certification/v1/certificates/{made.json()['id']}/status-changes",
                        json={"status": step, "reason": f"to {step}"},
                        headers=nau,
                    )
                    assert changed.status_code == 201, changed.text
                return str(made.json()["id"])

            certificate("granted", "revoked")
            at_risk_url = f"/housing/v1/at-risk?municipalityCode={HALDERBERGE}"

            def ours() -> dict[str, Any] | None:
                items = http.get(at_risk_url, headers=halderberge).json()["items"]
                return next((i for i in items if i["id"] == location["id"]), None)

            item = _eventually(ours)
            assert item is not None, "the revocation never reached the housing service"
            assert item["residentsAffected"] == {"count": 6, "exact": True}  # its own location: exact
            assert item["risks"][0]["reason"] == "revoked" and item["beds"] == 20
            flagged = http.get(
                f"/housing/v1/housing-locations?atRisk=true&municipalityCode={HALDERBERGE}", headers=halderberge
            ).json()["items"]
            assert location["id"] in {i["id"] for i in flagged}

            # A new certificate granted clears the risk.
            certificate("granted")
            assert _eventually(lambda: ours() is None), "the risk did not clear"

            # The registry stopped: the report comes back stale (or 503), never a 500.
            registry_pid = _pid_of(ports["registry"], "services.registry.main:create_app")
            os.kill(registry_pid, signal.SIGSTOP)
            stopped = http.get("/housing/v1/fair-share?regionCode=west-brabant", headers=halderberge)
            assert stopped.status_code in (200, 503), stopped.text
            if stopped.status_code == 200:
                assert stopped.json()["stale"] is True and stopped.json()["asOf"] == third["asOf"]
                assert own(stopped.json())["obligation"] == own(third)["obligation"]
            os.kill(registry_pid, signal.SIGCONT)
            registry_pid = None
            assert report()["stale"] is False
    finally:
        if registry_pid is not None:
            os.kill(registry_pid, signal.SIGCONT)
        code = stop(process)
    assert code == 0
