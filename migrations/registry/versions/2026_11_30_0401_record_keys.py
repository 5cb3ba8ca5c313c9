"""record keys for the cell-key method, and their sums in the active counts (ADR 0027)

Every registration gets a random 32-bit record key, fixed for its life; the per-pair active counts
(ADR 0017) also keep the sum of the record keys of the active registrations they count, kept by the same
triggers, so a statistics count and its cell key come from one read. Existing registrations get a
random key here (PostgreSQL's and SQLite's random(); the application draws new ones from the operating
system's CSPRNG). The triggers of rg0005 are replaced by ones that also add and subtract the keys.

Revision ID: rg0401
Revises: rg0301
Create Date: 2026-11-30
"""

# ruff: noqa: S608 - the SQL is built from this file's constants only, never from input

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "rg0401"
down_revision: str | None = "rg0301"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

W, R = "work_municipality_code", "residence_municipality_code"
EVENTS = ("insert", "update", "delete")


def _pg_upsert(with_keys: bool) -> str:
    keys = ", key_sum" if with_keys else ""
    sums = ", sum(key_delta)" if with_keys else ""
    update = ", key_sum = c.key_sum + excluded.key_sum" if with_keys else ""
    return f"""
    INSERT INTO registration_active_counts AS c ({W}, {R}, active{keys})
    SELECT {W}, {R}, sum(delta){sums} FROM ({{deltas}}) AS d
    GROUP BY {W}, {R} HAVING sum(delta) <> 0 {"OR sum(key_delta) <> 0 " if with_keys else ""}ORDER BY {W}, {R}
    ON CONFLICT ({W}, {R}) DO UPDATE SET active = c.active + excluded.active{update}
"""


def _pg_deltas(with_keys: bool) -> dict[str, str]:
    plus = ", record_key AS key_delta" if with_keys else ""
    minus = ", -record_key" if with_keys else ""
    minus_named = ", -record_key AS key_delta" if with_keys else ""
    return {
        "insert": f"SELECT {W}, {R}, 1 AS delta{plus} FROM new_rows WHERE status = 'active'",
        "update": (
            f"SELECT {W}, {R}, 1 AS delta{plus} FROM new_rows WHERE status = 'active' "
            f"UNION ALL SELECT {W}, {R}, -1{minus} FROM old_rows WHERE status = 'active'"
        ),
        "delete": f"SELECT {W}, {R}, -1 AS delta{minus_named} FROM old_rows WHERE status = 'active'",
    }


PG_REFERENCING = {
    "insert": "REFERENCING NEW TABLE AS new_rows",
    "update": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "REFERENCING OLD TABLE AS old_rows",
}


def _sqlite_triggers(with_keys: bool) -> dict[str, str]:
    add_keys = ", key_sum" if with_keys else ""
    add_value = ", coalesce(NEW.record_key, 0)" if with_keys else ""
    add_update = ", key_sum = key_sum + coalesce(NEW.record_key, 0)" if with_keys else ""
    remove_update = ", key_sum = key_sum - coalesce(OLD.record_key, 0)" if with_keys else ""
    add = (
        f"INSERT INTO registration_active_counts ({W}, {R}, active{add_keys}) SELECT NEW.{W}, NEW.{R}, 1{add_value} "
        f"WHERE NEW.status = 'active' ON CONFLICT ({W}, {R}) DO UPDATE SET active = active + 1{add_update};"
    )
    remove = (
        f"UPDATE registration_active_counts SET active = active - 1{remove_update} "
        f"WHERE OLD.status = 'active' AND {W} = OLD.{W} AND {R} = OLD.{R};"
    )
    return {"insert": add, "update": remove + "\n" + add, "delete": remove}


def _drop_triggers(postgres: bool) -> None:
    for event in EVENTS:
        op.execute(
            f"DROP TRIGGER IF EXISTS registration_active_counts_{event}" + (" ON registrations" if postgres else "")
        )
        if postgres:
            op.execute(f"DROP FUNCTION IF EXISTS registration_active_counts_{event}()")


def _create_triggers(postgres: bool, with_keys: bool) -> None:
    if postgres:
        upsert, deltas = _pg_upsert(with_keys), _pg_deltas(with_keys)
        for event in EVENTS:
            op.execute(
                f"CREATE FUNCTION registration_active_counts_{event}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                f"BEGIN {upsert.format(deltas=deltas[event])}; RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER registration_active_counts_{event} AFTER {event.upper()} ON registrations "
                f"{PG_REFERENCING[event]} FOR EACH STATEMENT "
                f"EXECUTE FUNCTION registration_active_counts_{event}()"
            )
    else:
        for event, body in _sqlite_triggers(with_keys).items():
            op.execute(
                f"CREATE TRIGGER registration_active_counts_{event} AFTER {event.upper()} ON registrations "
                f"FOR EACH ROW BEGIN\n{body}\nEND"
            )


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        # No registration may be written between the recount and the new triggers (until commit).
        op.execute("LOCK TABLE registrations IN SHARE ROW EXCLUSIVE MODE")
    _drop_triggers(postgres)
    # Plain ADD COLUMNs: a batch copy of the table on SQLite would lose the triggers and indexes.
    op.add_column("registrations", sa.Column("record_key", sa.BigInteger(), nullable=True))
    op.add_column(
        "registration_active_counts", sa.Column("key_sum", sa.BigInteger(), nullable=False, server_default="0")
    )
    if postgres:
        op.execute("UPDATE registrations SET record_key = floor(random() * 4294967296)::bigint")
        op.alter_column("registrations", "record_key", nullable=False)
    else:
        op.execute("UPDATE registrations SET record_key = abs(random()) % 4294967296")
    op.execute(
        f"UPDATE registration_active_counts SET key_sum = coalesce((SELECT sum(r.record_key) FROM registrations r "
        f"WHERE r.status = 'active' AND r.{W} = registration_active_counts.{W} "
        f"AND r.{R} = registration_active_counts.{R}), 0)"
    )
    _create_triggers(postgres, with_keys=True)
    # The economic-location statistics (the fair share's pools) from the index alone: a seq scan of
    # 1,000,000 registrations took ~150 ms.
    active_located = sa.text("status = 'active' AND economic_location_id IS NOT NULL")
    op.create_index(
        "ix_registrations_active_economic_location",
        "registrations",
        ["economic_location_id", "work_municipality_code", "record_key"],
        postgresql_where=active_located,
        sqlite_where=active_located,
    )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.drop_index("ix_registrations_active_economic_location", table_name="registrations")
    _drop_triggers(postgres)
    if postgres:
        op.drop_column("registration_active_counts", "key_sum")
        op.drop_column("registrations", "record_key")
    else:
        with op.batch_alter_table("registration_active_counts") as batch:
            batch.drop_column("key_sum")
        op.execute("ALTER TABLE registrations DROP COLUMN record_key")
    _create_triggers(postgres, with_keys=False)
