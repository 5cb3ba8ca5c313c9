"""The demo data: loads once, a mix of statuses and histories, reports in follow-up."""

from __future__ import annotations

from lmx_common.db import Database
from services.certification.demo import load_demo
from tests.support.certification import api
from tests.support.webhooks import eventually


async def test_demo_data_loads_once_with_a_mix_of_statuses_and_reports(stack, http, backend):
    database = Database(backend.urls["certification"])
    try:
        async with database.sessionmaker() as session, session.begin():
            added = await load_demo(session)
        async with database.sessionmaker() as session, session.begin():
            again = await load_demo(session)
    finally:
        await database.dispose()
    assert added > 40 and again == 0
    reader = await api(stack, http, org_type="inspectorate", scopes=("certification:read", "reports:read"))
    statuses = {
        c["status"]
        for c in (await reader.get("/v1/certificates?pageSize=500")).json()["items"]
        if c["kvkNumber"].startswith("7123")
    }
    assert {"applied", "granted", "suspended", "revoked", "refused"} <= statuses
    history = (await reader.get("/v1/certificates?kvkNumber=71230002")).json()["items"][0]
    changes = (await reader.get(f"/v1/certificates/{history['id']}/status-changes")).json()["items"]
    assert [c["status"] for c in changes] == ["applied", "granted", "suspended"]

    async def expired_by_the_job() -> bool:  # granted until 2026-10-31
        status = (await reader.get("/v1/organisations/71230102/status")).json()
        schemes = {s["scheme"]: s["status"] for s in status["schemes"]}
        return bool(schemes["snf-housing"] == "expired" and not status["maySupplyHousing"])

    await eventually(expired_by_the_job, timeout=10)
    flex = (await reader.get("/v1/organisations/71230001/status")).json()
    assert flex["maySupplyLabour"] is True
    reports = (await reader.get("/v1/reports?pageSize=500")).json()["items"]
    demo = {r["kvkNumber"]: r["status"] for r in reports if r["kvkNumber"] and r["kvkNumber"].startswith("7123")}
    assert set(demo.values()) == {"received", "investigating", "referred", "resolved"}
