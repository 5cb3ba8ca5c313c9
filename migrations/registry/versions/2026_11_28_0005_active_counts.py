"""active registrations counted per (work, residence) municipality pair, kept by the database

The statistics read this small table (at most one row per municipality pair) instead of grouping
every registration on each request. Triggers keep it exact in the writing transaction, whatever
writes a registration (API, bulk path, COPY, retention job, a manual fix in psql): on PostgreSQL one
statement-level trigger per INSERT/UPDATE/DELETE statement over its transition tables (one upsert per
statement, however many rows), on SQLite row-level triggers. See ADR 0017.

Revision ID: rg0005
Revises: rg0004
Create Date: 2026-11-28
"""

# ruff: noqa: S608 - the SQL is built from this file's constants only, never from input

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "rg0005"
down_revision: str | None = "rg0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

W, R = "work_municipality_code", "residence_municipality_code"

# Rows are upserted in key order, so two statements touching the same pairs lock them in the same
# order; the bulk path also inserts its rows in key order (no deadlock between concurrent imports).
PG_UPSERT = f"""
    INSERT INTO registration_active_counts AS c ({W}, {R}, active)
    SELECT {W}, {R}, sum(delta) FROM ({{deltas}}) AS d
    GROUP BY {W}, {R} HAVING sum(delta) <> 0 ORDER BY {W}, {R}
    ON CONFLICT ({W}, {R}) DO UPDATE SET active = c.active + excluded.active
"""
PG_DELTAS = {
    "insert": f"SELECT {W}, {R}, 1 AS delta FROM new_rows WHERE status = 'active'",
    "update": (
        f"SELECT {W}, {R}, 1 AS delta FROM new_rows WHERE status = 'active' "
        f"UNION ALL SELECT {W}, {R}, -1 FROM old_rows WHERE status = 'active'"
    ),
    "delete": f"SELECT {W}, {R}, -1 AS delta FROM old_rows WHERE status = 'active'",
}
PG_REFERENCING = {
    "insert": "REFERENCING NEW TABLE AS new_rows",
    "update": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "REFERENCING OLD TABLE AS old_rows",
}

SQLITE_ADD = (
    f"INSERT INTO registration_active_counts ({W}, {R}, active) SELECT NEW.{W}, NEW.{R}, 1 "
    f"WHERE NEW.status = 'active' ON CONFLICT ({W}, {R}) DO UPDATE SET active = active + 1;"
)
SQLITE_REMOVE = (
    f"UPDATE registration_active_counts SET active = active - 1 "
    f"WHERE OLD.status = 'active' AND {W} = OLD.{W} AND {R} = OLD.{R};"
)
SQLITE_TRIGGERS = {
    "insert": SQLITE_ADD,
    "update": SQLITE_REMOVE + "\n" + SQLITE_ADD,
    "delete": SQLITE_REMOVE,
}


def upgrade() -> None:
    op.create_table(
        "registration_active_counts",
        sa.Column(W, sa.String(6), nullable=False),
        sa.Column(R, sa.String(6), nullable=False),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(W, R, name=op.f("pk_registration_active_counts")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # No registration may be written between the first count and the triggers (until commit).
        op.execute("LOCK TABLE registrations IN SHARE ROW EXCLUSIVE MODE")
    op.execute(
        f"INSERT INTO registration_active_counts ({W}, {R}, active) "
        f"SELECT {W}, {R}, count(*) FROM registrations WHERE status = 'active' GROUP BY {W}, {R}"
    )
    if op.get_bind().dialect.name == "postgresql":
        for event, deltas in PG_DELTAS.items():
            op.execute(
                f"CREATE FUNCTION registration_active_counts_{event}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                f"BEGIN {PG_UPSERT.format(deltas=deltas)}; RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER registration_active_counts_{event} AFTER {event.upper()} ON registrations "
                f"{PG_REFERENCING[event]} FOR EACH STATEMENT "
                f"EXECUTE FUNCTION registration_active_counts_{event}()"
            )
        # TRUNCATE fires no row or statement trigger of the three above: it empties the counts too.
        op.execute(
            "CREATE FUNCTION registration_active_counts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            "BEGIN DELETE FROM registration_active_counts; RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER registration_active_counts_truncate AFTER TRUNCATE ON registrations "
            "FOR EACH STATEMENT EXECUTE FUNCTION registration_active_counts_truncate()"
        )
    else:
        for event, body in SQLITE_TRIGGERS.items():
            op.execute(
                f"CREATE TRIGGER registration_active_counts_{event} AFTER {event.upper()} ON registrations "
                f"FOR EACH ROW BEGIN\n{body}\nEND"
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for event in [*PG_DELTAS, "truncate"]:
        op.execute(
            f"DROP TRIGGER IF EXISTS registration_active_counts_{event}" + (" ON registrations" if postgres else "")
        )
        if postgres:
            op.execute(f"DROP FUNCTION IF EXISTS registration_active_counts_{event}()")
    op.drop_table("registration_active_counts")
