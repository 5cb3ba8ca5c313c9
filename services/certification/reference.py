"""The certification schemes, as reference data loaded into the service's database."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.certification.models import Scheme

SCHEMES = (
    Scheme(
        code="wtta-admission",
        name="Admission under the Wet toelating terbeschikkingstelling arbeidskrachten",
        owner="NAU (Nederlandse Autoriteit Uitleenmarkt)",
        subject_kind="employment-agency",
        permits="Supplying labour (required for temporary-work agencies from 1 January 2027).",
    ),
    Scheme(
        code="sna-nen-4400",
        name="SNA certificate under NEN 4400-1",
        owner="SNA (Stichting Normering Arbeid)",
        subject_kind="employment-agency",
        permits="Shows the agency meets the NEN 4400-1 standard.",
    ),
    Scheme(
        code="snf-housing",
        name="SNF certificate for housing of labour migrants",
        owner="SNF (Stichting Normering Flexwonen)",
        subject_kind="landlord",
        permits="Housing labour migrants at the certified locations.",
    ),
)


async def load_schemes(session: AsyncSession) -> int:
    existing = {s.code for s in (await session.execute(select(Scheme))).scalars()}
    added = 0
    for scheme in SCHEMES:
        if scheme.code not in existing:
            session.add(
                Scheme(
                    code=scheme.code,
                    name=scheme.name,
                    owner=scheme.owner,
                    subject_kind=scheme.subject_kind,
                    permits=scheme.permits,
                )
            )
            added += 1
    await session.flush()
    return added
