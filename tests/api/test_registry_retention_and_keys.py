"""Retention that anonymises (k-anonymous what remains, expired active registrations too) and BSN key
rotation, on a fresh registry database of its own (SQLite and PostgreSQL): a rotation changes every
stored BSN, which the shared test stack's registry could then no longer read."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update

from lmx_common.auth import OrganisationType, Principal
from lmx_common.db import Database
from lmx_common.migrations import upgrade
from lmx_common.problems import ProblemError
from services.registry import errors, key_rotation, retention, service
from services.registry.config import RegistrySettings
from services.registry.context import RequestContext
from services.registry.crypto import BsnVault
from services.registry.models import Registration
from services.registry.schemas import RegistrationCreate
from tests.conftest import (
    create_postgres_databases,
    drop_postgres_databases,
    require_postgres,
)
from tests.support.registrations import make_registration

OLD = BsnVault("old-pseudonym-key-" + "p" * 20, "old-encryption-key-" + "e" * 20)
NEW_ONLY = BsnVault("new-pseudonym-key-" + "p" * 20, "new-encryption-key-" + "e" * 20)
ROTATING = BsnVault(
    "new-pseudonym-key-" + "p" * 20,
    "new-encryption-key-" + "e" * 20,
    ("old-pseudonym-key-" + "p" * 20,),
    ("old-encryption-key-" + "e" * 20,),
)
POINT = Principal(
    client_id="retention-test",
    organisation_oin="00000099000000000077",
    organisation_type=OrganisationType.INFORMATION_POINT,
    scopes=frozenset({"registry:read", "registry:write"}),
    token_id="retention",
    expires_at=2**31,
)
# An information point acts under its own processing activity (services/registry/activities.py).
CONTEXT = RequestContext(POINT, activity="lmx-information-point")
K = 5


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/registry.db"
        upgrade("registry", url)
        yield url
        return
    require_postgres()
    urls = create_postgres_databases(f"lmx_ret_{uuid.uuid4().hex[:8]}")
    try:
        upgrade("registry", urls["registry"])
        yield urls["registry"]
    finally:
        drop_postgres_databases(urls)


async def create(database: Database, vault: BsnVault, **overrides: Any) -> tuple[str, str]:
    body = make_registration(**overrides)
    # As a request's unit of work (lmx_common.db.request_session): commit at the end. A refused duplicate
    # commits its own log record (service._log_duplicate_check), so no session.begin() block here.
    async with database.sessionmaker() as session:
        registration = await service._create(session, CONTEXT, RegistrationCreate.model_validate(body), vault)
        await session.commit()
    return registration.id, body["person"]["bsn"]


async def search(database: Database, vault: BsnVault, bsn: str) -> list[str]:
    async with database.sessionmaker() as session, session.begin():
        return [r.id for r in await service.search(session, CONTEXT, bsn, vault)]


async def test_rotation_rewrites_every_bsn_in_resumable_batches(registry_url):
    database = Database(registry_url)
    try:
        made = [await create(database, OLD) for _ in range(7)]
        # Written before key ids: a bare Fernet token is still read (and rotated).
        legacy_id, legacy_bsn = made[0]
        bare = OLD.encrypt(legacy_bsn).split(":", 1)[1]
        async with database.sessionmaker() as session, session.begin():
            await session.execute(update(Registration).where(Registration.id == legacy_id).values(bsn_encrypted=bare))

        # Half-way (one batch of 3, then stopped): both keys still find everyone, and a second active
        # registration of a BSN under the old key is refused.
        progress = key_rotation.Progress()
        async with database.sessionmaker() as session, session.begin():
            assert await key_rotation.rotate_batch(session, ROTATING, None, 3, progress)
        assert progress.rotated == 3
        for registration_id, bsn in made:
            assert await search(database, ROTATING, bsn) == [registration_id]
        with pytest.raises(ProblemError) as refused:
            await create(database, ROTATING, **{"person.bsn": made[-1][1]})  # not rotated yet
        assert refused.value.detail == errors.already_registered().detail

        # Resumed from where it stopped, then run again: nothing left, nothing to do.
        rest = await key_rotation.rotate(database, ROTATING, batch_size=2, after=progress.last_id)
        assert rest.rotated == 4 and rest.remaining == 0
        again = await key_rotation.rotate(database, ROTATING, batch_size=2)
        assert again.examined == 7 and again.rotated == 0

        # The old keys are no longer needed: the new ones alone read, find and deduplicate everyone.
        status = await key_rotation.rotate(database, NEW_ONLY, dry_run=True)
        assert status.rotated == 0 and status.remaining == 0
        async with database.sessionmaker() as session:
            stored = (await session.execute(select(Registration.bsn_encrypted))).scalars().all()
        assert all(NEW_ONLY.is_current(value) for value in stored if value)
        for registration_id, bsn in made:
            assert await search(database, NEW_ONLY, bsn) == [registration_id]
            assert await search(database, OLD, bsn) == []
        with pytest.raises(ProblemError) as refused:
            await create(database, NEW_ONLY, **{"person.bsn": made[0][1]})
        assert refused.value.detail == errors.already_registered().detail
        assert NEW_ONLY.decrypt(stored[0] or "") in {bsn for _, bsn in made}
        # A key the vault does not hold shows up as unreadable, never as rotated.
        assert (await key_rotation.rotate(database, BsnVault("x" * 40, "y" * 40), dry_run=True)).unreadable
    finally:
        await database.dispose()


async def anonymised_rows(database: Database) -> list[dict[str, Any]]:
    names = ("id", "anonymisation_level", *retention.QUASI_IDENTIFIERS)
    query = select(*(getattr(Registration, n) for n in names)).where(Registration.anonymised_at.is_not(None))
    async with database.sessionmaker() as session:
        found = (await session.execute(query)).all()
    return [dict(zip(("id", "level", *retention.QUASI_IDENTIFIERS), r, strict=True)) for r in found]


def assert_k_anonymous(found: list[dict[str, Any]]) -> None:
    levels = {r["id"]: r["level"] for r in found}
    sizes = retention.classes(found, levels)
    for row in found:
        key = retention._key(row, row["level"])
        stored = {name: row[name] for name in retention.QUASI_IDENTIFIERS}
        assert stored == retention.generalise(row, row["level"]), "the stored values are those of the level"
        if row["level"] != retention.HELD:
            assert sizes[key] >= K, (row, sizes[key])


async def test_retention_anonymises_expired_and_departed_registrations_k_anonymously(registry_url):
    database = Database(registry_url)
    today = date.today()
    old = (today - timedelta(days=3 * 365)).isoformat()
    try:
        # A large group (same municipalities, nationality, month), an adversarial tiny group (one person
        # of a rare nationality), and two active registrations long past their expected end.
        crowd = [
            await create(database, OLD, arrivalDate=old, **{"person.nationality": "PL"}, expectedEndDate=None)
            for _ in range(6)
        ]
        (lonely_id, _) = await create(database, OLD, arrivalDate=old, **{"person.nationality": "IS"})
        (odd_id, _) = await create(
            database, OLD, arrivalDate=old, **{"residence.municipalityCode": "GM0080", "person.nationality": "IS"}
        )
        expired = [
            await create(database, OLD, arrivalDate=old, expectedEndDate=(today - timedelta(days=400)).isoformat())
            for _ in range(2)
        ]
        (recent_id, _) = await create(
            database, OLD, arrivalDate=old, expectedEndDate=(today - timedelta(days=30)).isoformat()
        )
        departed_on = today - timedelta(days=800)
        async with database.sessionmaker() as session, session.begin():
            await session.execute(
                update(Registration)
                .where(Registration.id.in_([i for i, _ in crowd] + [lonely_id, odd_id]))
                .values(status="departed", departure_date=departed_on, departure_reason="job-lost")
            )
        async with database.sessionmaker() as session, session.begin():
            done = await retention.anonymise_departed(session, 730, expired_grace_days=365, k=K, hold_days=365)
        assert done == 10  # 8 departed + 2 expired; not the one 30 days past its end
        found = await anonymised_rows(database)
        assert {r["id"] for r in found} == {i for i, _ in crowd} | {lonely_id, odd_id} | {i for i, _ in expired}
        assert recent_id not in {r["id"] for r in found}
        assert_k_anonymous(found)
        by_id = {r["id"]: r for r in found}
        # The crowd plus the lonely one make a class at some level; the nationality goes where it must.
        assert by_id[odd_id]["level"] == retention.HELD  # alone in its residence municipality: held
        async with database.engine.connect() as conn:
            cleared = (
                await conn.execute(
                    text(
                        "SELECT bsn_pseudonym, bsn_encrypted, surname, date_of_birth, employer_kvk_number,"
                        " agency_kvk_number, housing_location_id, expected_end_date FROM registrations"
                        " WHERE anonymised_at IS NOT NULL"
                    )
                )
            ).all()
        assert all(tuple(r) == (None, None, None, None, "", None, None, None) for r in cleared)

        # Idempotent; and held ones go once held longer than the hold period.
        async with database.sessionmaker() as session, session.begin():
            assert await retention.anonymise_departed(session, 730, expired_grace_days=365, k=K) == 0
        assert sorted(map(repr, await anonymised_rows(database))) == sorted(map(repr, found))
        async with database.sessionmaker() as session, session.begin():
            await retention.generalise_anonymised(session, K, 365, today=today + timedelta(days=400))
        remaining = {r["id"] for r in await anonymised_rows(database)}
        assert odd_id not in remaining
        assert_k_anonymous(await anonymised_rows(database))
    finally:
        await database.dispose()


@pytest.mark.one_backend  # a SQLite pragma; for PostgreSQL see docs/operations.md
async def test_the_registry_database_file_overwrites_what_it_deletes(registry_url):
    from services.registry.storage import secure_delete

    database = Database(registry_url)
    secure_delete(database)
    try:
        async with database.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA secure_delete")).scalar() == 1
    finally:
        await database.dispose()


async def test_by_default_no_anonymised_registration_is_in_a_class_smaller_than_k(registry_url):
    """The default deletes at once what cannot join a class of k: nothing anonymised stays unique."""
    database = Database(registry_url)
    today = date.today()
    old = (today - timedelta(days=3 * 365)).isoformat()
    hold_days = RegistrySettings().anonymise_hold_days
    try:
        crowd = [await create(database, OLD, arrivalDate=old, **{"person.nationality": "PL"}) for _ in range(K)]
        (alone, _) = await create(
            database, OLD, arrivalDate=old, **{"residence.municipalityCode": "GM0080", "person.nationality": "IS"}
        )
        async with database.sessionmaker() as session, session.begin():
            await session.execute(
                update(Registration)
                .where(Registration.id.in_([i for i, _ in crowd] + [alone]))
                .values(status="departed", departure_date=today - timedelta(days=800), departure_reason="job-lost")
            )
        async with database.sessionmaker() as session, session.begin():
            await retention.anonymise_departed(session, 730, k=K, hold_days=hold_days)
        found = await anonymised_rows(database)
        assert alone not in {r["id"] for r in found}  # alone in its municipality pair: suppressed
        assert {r["id"] for r in found} == {i for i, _ in crowd}
        levels = {r["id"]: r["level"] for r in found}
        sizes = retention.classes(found, levels)
        assert all(sizes[retention._key(r, r["level"])] >= K for r in found)  # no exemption for held ones
        assert retention.HELD not in levels.values()
    finally:
        await database.dispose()
