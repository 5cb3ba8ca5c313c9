"""Rotating the BSN keys: every stored BSN re-encrypted with the current encryption key and
re-pseudonymised with the current pseudonym key, in batches (docs/operations.md).

The pseudonym cannot be recomputed from the old one, only from the BSN: each row's encrypted value
is decrypted (with whichever configured key made it), then encrypted and pseudonymised anew. A row
already under the current keys is left alone, so a run is idempotent, and one stopped half-way is
resumed by running again (or from ``after``, the last id a run printed). Each batch is its own
transaction; rows are locked (PostgreSQL) so a concurrent change of the same registration waits.

The unique index on active pseudonyms holds throughout: a BSN's new pseudonym can only collide with
an active registration of the same BSN under the new key, which the service refuses while both keys
are configured (it checks every key's pseudonym). Should one exist all the same (two registrations
made before the check existed), the row is left unrotated and reported in ``conflicts``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.db import Database
from services.registry.crypto import BsnVault
from services.registry.models import Registration


@dataclass
class Progress:
    examined: int = 0
    rotated: int = 0
    unreadable: list[str] = field(default_factory=list)
    """Ids whose encrypted BSN no configured key decrypts: the old key is still needed for them."""
    conflicts: list[str] = field(default_factory=list)
    """Ids whose new pseudonym another active registration already has (a duplicate to resolve)."""
    last_id: str | None = None

    @property
    def remaining(self) -> int:
        return len(self.unreadable) + len(self.conflicts)


async def rotate_batch(
    session: AsyncSession, vault: BsnVault, after: str | None, size: int, progress: Progress, dry_run: bool = False
) -> bool:
    """One batch of registrations with a BSN, in id order after ``after``; False when none were left."""
    query = select(Registration.id, Registration.bsn_pseudonym, Registration.bsn_encrypted, Registration.status)
    query = query.where(Registration.bsn_encrypted.is_not(None)).order_by(Registration.id).limit(size)
    if after is not None:
        query = query.where(Registration.id > after)
    if not dry_run:
        query = query.with_for_update()
    rows = (await session.execute(query)).all()
    if not rows:
        return False
    changes: dict[str, tuple[str, str]] = {}
    for registration_id, pseudonym, stored, _status in rows:
        encrypted = cast(str, stored)  # not null here
        bsn = vault.decrypt(encrypted)
        if bsn is None:
            progress.unreadable.append(registration_id)
            continue
        new_pseudonym = vault.pseudonym(bsn)
        if new_pseudonym == pseudonym and vault.is_current(encrypted):
            continue
        changes[registration_id] = (new_pseudonym, encrypted if vault.is_current(encrypted) else vault.encrypt(bsn))
    # An active row's new pseudonym must not be another active registration's already.
    active_new = {changes[i][0]: i for i, _, _, status in rows if status == "active" and i in changes}
    if active_new:
        clashes = await session.execute(
            select(Registration.id, Registration.bsn_pseudonym).where(
                Registration.bsn_pseudonym.in_(list(active_new)), Registration.status == "active"
            )
        )
        for other_id, taken in clashes.all():
            mine = active_new[cast(str, taken)]
            if other_id != mine:
                progress.conflicts.append(mine)
                del changes[mine]
    if not dry_run:
        for registration_id, (new_pseudonym, new_encrypted) in changes.items():
            # The representation does not change: no new version (ETags stay valid).
            await session.execute(
                update(Registration)
                .where(Registration.id == registration_id)
                .values(bsn_pseudonym=new_pseudonym, bsn_encrypted=new_encrypted)
                .execution_options(synchronize_session=False)
            )
    progress.examined += len(rows)
    progress.rotated += len(changes)
    progress.last_id = rows[-1][0]
    return True


async def rotate(
    database: Database,
    vault: BsnVault,
    batch_size: int = 1000,
    after: str | None = None,
    dry_run: bool = False,
    on_batch: Callable[[Progress], None] | None = None,
) -> Progress:
    """Every stored BSN under the current keys, batch by batch (each its own transaction)."""
    progress = Progress(last_id=after)
    while True:
        async with database.sessionmaker() as session, session.begin():
            more = await rotate_batch(session, vault, progress.last_id, batch_size, progress, dry_run)
        if not more:
            return progress
        if on_batch is not None:
            on_batch(progress)
