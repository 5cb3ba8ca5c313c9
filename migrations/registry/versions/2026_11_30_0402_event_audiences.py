"""per-person events only to the parties entitled to the person: an audience on every outbox event

Revision ID: rg0402
Revises: rg0401
Create Date: 2026-11-30

The registry's events already in the outbox get the municipalities in their own data as audience
(work and residence municipality); who registered them was never stored with them, so the
registering organisation does not receive those older events. docs/decisions/0028.
"""

# ruff: noqa: S608 - the SQL is built from this file's constants only, never from input
from collections.abc import Sequence

from alembic import op

from lmx_common.events.migration import add_event_audiences, drop_event_audiences

revision: str = "rg0402"
down_revision: str | None = "rg0401"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PERSONAL = "('registration.created', 'registration.departed')"


def upgrade() -> None:
    add_event_audiences()
    if op.get_bind().dialect.name == "postgresql":
        work, residence, build = (
            "(data->>'workMunicipalityCode')",
            "(data->>'residenceMunicipalityCode')",
            "json_build_array",
        )
    else:
        work, residence = (
            "json_extract(data, '$.workMunicipalityCode')",
            "json_extract(data, '$.residenceMunicipalityCode')",
        )
        build = "json_array"
    op.execute(
        f"UPDATE outbox_events SET audience = CASE WHEN {work} = {residence} "
        f"THEN {build}('municipality:' || {work}) "
        f"ELSE {build}('municipality:' || {residence}, 'municipality:' || {work}) END "
        f"WHERE type IN {PERSONAL}"
    )


def downgrade() -> None:
    drop_event_audiences()
