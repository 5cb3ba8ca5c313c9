"""Property: any sequence of requested status changes keeps the machine, the history and the
events consistent (the service layer on a real database, both backends)."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import UTC, date, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from lmx_common.db import Database
from lmx_common.problems import ProblemError
from services.certification import service
from services.certification.models import Certificate, CertificateStatusChange, Organisation, OutboxEvent
from services.certification.rules import CERTIFICATE_TRANSITIONS

STATUSES = list(CERTIFICATE_TRANSITIONS)
ACTOR = service.Actor("property-test", "00000099000000009999", "certifier")


async def _run(url: str, requested: list[str]) -> None:
    database = Database(url)
    try:
        async with database.sessionmaker() as session, session.begin():
            kvk = f"{uuid.uuid4().int % 90_000_000 + 10_000_000}"
            now = datetime.now(UTC)
            session.add(Organisation(kvk_number=kvk, name="P", kinds=["employer"], created_by_oin="x", created_at=now))
            await session.flush()  # no ORM relationship orders the inserts
            row = Certificate(
                id=str(uuid.uuid4()),
                kvk_number=kvk,
                scheme_code="wtta-admission",
                certificate_number=None,
                housing_location_ids=[],
                valid_from=date(2026, 1, 1),
                valid_until=None,
                status="applied",
                status_since=date(2026, 1, 1),
                issuer_oin=ACTOR.organisation_oin or "",
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            expected = "applied"
            accepted = 0
            for status in requested:
                try:
                    await service.transition(session, row, status, "property", date(2026, 2, 1), ACTOR)
                except ProblemError as exc:
                    assert status not in CERTIFICATE_TRANSITIONS[expected]
                    assert exc.status == 409 and exc.extra["allowedStatuses"] == list(CERTIFICATE_TRANSITIONS[expected])
                else:
                    assert status in CERTIFICATE_TRANSITIONS[expected]
                    expected = status
                    accepted += 1
                assert row.status == expected
            history = (
                await session.execute(
                    select(CertificateStatusChange.from_status, CertificateStatusChange.to_status)
                    .where(CertificateStatusChange.certificate_id == row.id)
                    .order_by(CertificateStatusChange.id)
                )
            ).all()
            assert len(history) == accepted  # no entry for a refused change
            for (before, after), (next_before, _) in itertools.pairwise(history):
                assert before is not None and next_before == after and after in CERTIFICATE_TRANSITIONS[before]
            events = (
                await session.execute(select(func.count()).where(OutboxEvent.subject == f"certificates/{row.id}"))
            ).scalar_one()
            assert events == accepted
            await session.rollback()
    finally:
        await database.dispose()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requested=st.lists(st.sampled_from(STATUSES), max_size=8))
def test_any_sequence_of_changes_keeps_machine_history_and_events_consistent(backend, requested):
    asyncio.run(_run(backend.urls["certification"], requested))
