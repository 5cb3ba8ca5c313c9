"""The per-pair active counts the database keeps for the statistics (ADR 0017) equal a count over the
registrations after every kind of write: single and bulk creates, a merge-patch that moves someone,
a departure, anonymisation, plain SQL and a rolled-back transaction — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, timedelta

from sqlalchemy import text

from lmx_common.db import COPY_THRESHOLD, Database
from services.registry.retention import anonymise_departed
from tests.support.db import rows
from tests.support.registrations import make_registration

# Friesland, which no other registry test writes to.
HERE, THERE, ELSEWHERE = "GM0080", "GM0086", "GM0090"
COPIED = COPY_THRESHOLD + 3  # enough lines for the bulk path to use COPY on PostgreSQL
PAIR_COUNTS = (
    "SELECT work_municipality_code w, residence_municipality_code r, active n, key_sum k "
    "FROM registration_active_counts"
)
TRUE_COUNTS = (
    "SELECT work_municipality_code w, residence_municipality_code r, count(*) n, sum(record_key) k "
    "FROM registrations WHERE status = 'active' GROUP BY work_municipality_code, residence_municipality_code"
)


async def counts(url: str) -> dict[tuple[str, str], int]:
    return {(r["w"], r["r"]): r["n"] for r in await rows(url, PAIR_COUNTS) if r["n"] != 0}


async def assert_exact(url: str) -> dict[tuple[str, str], int]:
    """The kept counts and record-key sums (the cells' keys, ADR 0027) equal a GROUP BY."""
    kept = {(r["w"], r["r"]): (r["n"], int(r["k"])) for r in await rows(url, PAIR_COUNTS) if r["n"] != 0}
    assert kept == {(r["w"], r["r"]): (r["n"], int(r["k"])) for r in await rows(url, TRUE_COUNTS)}
    assert all(k > 0 for _, k in kept.values())  # every registration has a record key
    return {pair: n for pair, (n, _) in kept.items()}


async def test_the_counts_follow_every_write(stack, http):
    url = stack.database_urls["registry"]
    token = await stack.client_token(http, org_type="information-point", scopes=("registry:read", "registry:write"))
    headers = {"Authorization": f"Bearer {token}"}
    api = stack.gateway + "/registry/v1"
    before = await assert_exact(url)

    def line(work: str, home: str) -> str:
        return json.dumps(make_registration(**{"work.municipalityCode": work, "residence.municipalityCode": home}))

    bulk = await http.post(
        api + "/registrations/bulk",
        content="\n".join([line(HERE, HERE) for _ in range(COPIED)] + [line(HERE, THERE) for _ in range(2)]),
        headers=headers | {"Content-Type": "application/x-ndjson"},
    )
    assert bulk.status_code == 200 and bulk.json()["created"] == COPIED + 2, bulk.text
    single = await http.post(
        api + "/registrations", content=line(THERE, THERE), headers=headers | {"Content-Type": "application/json"}
    )
    assert single.status_code == 201, single.text
    kept = await assert_exact(url)
    assert kept.get((HERE, HERE), 0) - before.get((HERE, HERE), 0) == COPIED
    assert kept.get((HERE, THERE), 0) - before.get((HERE, THERE), 0) == 2
    assert kept.get((THERE, THERE), 0) - before.get((THERE, THERE), 0) == 1

    # A bad line in a file is refused on its own: only the good line counts.
    mixed = await http.post(
        api + "/registrations/bulk",
        content=line(HERE, HERE) + "\n" + json.dumps({"person": {}}),
        headers=headers | {"Content-Type": "application/x-ndjson"},
    )
    assert mixed.status_code == 200 and mixed.json()["created"] == 1, mixed.text
    after_mixed = await assert_exact(url)
    assert after_mixed[(HERE, HERE)] == kept[(HERE, HERE)] + 1
    kept = after_mixed

    # Moving someone: one off the old pair, one on the new.
    moved_id = bulk.json()["results"][0]["id"]
    moved = await http.patch(
        api + f"/registrations/{moved_id}",
        content=json.dumps({"residence": {"municipalityCode": ELSEWHERE}}),
        headers=headers | {"Content-Type": "application/merge-patch+json", "If-Match": '"1"'},
    )
    assert moved.status_code == 200, moved.text
    after_move = await assert_exact(url)
    assert after_move[(HERE, HERE)] == kept[(HERE, HERE)] - 1
    assert after_move[(HERE, ELSEWHERE)] == kept.get((HERE, ELSEWHERE), 0) + 1

    # A departure takes someone out; anonymising them later changes nothing.
    departed_id = single.json()["id"]
    departure = await http.post(
        api + f"/registrations/{departed_id}/departure",
        json={"date": date.today().isoformat(), "reason": "job-lost", "destination": {"type": "unknown"}},
        headers=headers,
    )
    assert departure.status_code == 200, departure.text
    after_departure = await assert_exact(url)
    assert after_departure.get((THERE, THERE), 0) == after_move[(THERE, THERE)] - 1
    database = Database(url)
    try:
        async with database.sessionmaker() as session:
            assert await anonymise_departed(session, 0, today=date.today() + timedelta(days=1)) >= 1
            await session.commit()
        # Whatever writes the table is counted: plain SQL too, in its own transaction, and a rollback
        # takes its counts back with it.
        async with database.engine.begin() as conn:
            await conn.execute(text("DELETE FROM registrations WHERE id = :id"), {"id": moved_id})
        async with database.engine.connect() as conn:
            await conn.execute(text("UPDATE registrations SET status = 'departed' WHERE status = 'active'"))
            assert await conn.scalar(text("SELECT coalesce(sum(active), 0) FROM registration_active_counts")) == 0
            await conn.rollback()
        # Emptying the table (TRUNCATE on PostgreSQL, which fires no row or statement trigger) empties
        # the counts; rolled back, as the other tests share this database.
        async with database.engine.connect() as conn:
            empty = "TRUNCATE registrations" if conn.dialect.name == "postgresql" else "DELETE FROM registrations"
            await conn.execute(text(empty))
            assert await conn.scalar(text("SELECT count(*) FROM registration_active_counts WHERE active <> 0")) == 0
            await conn.rollback()
    finally:
        await database.dispose()
    final = await assert_exact(url)
    assert final.get((HERE, ELSEWHERE), 0) == after_move[(HERE, ELSEWHERE)] - 1
    assert sum(final.values()) == sum(after_departure.values()) - 1
