"""Demo registrations for `make run`: a few thousand in West-Brabant, work concentrated in the
logistics municipalities, residence spread wider. Synthetic people; development only."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.config import RegistrySettings
from services.registry.crypto import BsnVault
from services.registry.models import ProcessingLogRecord, Registration

DEMO_CLIENT = "demo-data"
DEMO_OIN = "00000099000000900758"  # the Migration Information Point West-Brabant of the demo clients
COUNT = 3000
# Where people work (weights): Moerdijk's port and logistics parks lead, then Roosendaal, Oosterhout, Breda.
WORK = {
    "GM1709": 30,
    "GM1674": 15,
    "GM0826": 12,
    "GM0758": 12,
    "GM0777": 8,
    "GM0748": 8,
    "GM1655": 5,
    "GM0779": 3,
    "GM0879": 3,
    "GM0851": 2,
    "GM1719": 1,
    "GM0840": 1,
    "GM0873": 1,
    "GM1723": 1,
    "GM1959": 1,
    "GM0744": 1,
}
# Where people live: spread over the region, the larger towns more.
HOME = {
    "GM0758": 14,
    "GM1674": 10,
    "GM0748": 9,
    "GM1709": 8,
    "GM1655": 8,
    "GM0826": 8,
    "GM0777": 7,
    "GM0840": 6,
    "GM0851": 6,
    "GM0873": 5,
    "GM0879": 4,
    "GM0779": 4,
    "GM1719": 3,
    "GM1723": 3,
    "GM1959": 3,
    "GM0744": 2,
}
ECONOMIC_LOCATIONS = {"GM1709": "wb-moerdijk-logistics-park", "GM1674": "wb-borchwerf"}
NATIONALITIES = {"PL": 45, "RO": 20, "BG": 10, "HU": 5, "LT": 5, "LV": 3, "PT": 4, "ES": 3, "UA": 5}
GIVEN = [
    "Anna",
    "Piotr",
    "Katarzyna",
    "Andrei",
    "Maria",
    "Ion",
    "Georgi",
    "Elena",
    "Tomasz",
    "Agnieszka",
    "Mihai",
    "Ivana",
    "Jonas",
    "Oksana",
    "Joao",
    "Lucia",
]
SURNAMES = [
    "Nowak",
    "Kowalski",
    "Popescu",
    "Ionescu",
    "Ivanov",
    "Dimitrova",
    "Kazlauskas",
    "Horvath",
    "Silva",
    "Garcia",
    "Shevchenko",
    "Wisniewska",
    "Georgiev",
    "Balan",
    "Ozola",
    "Wojcik",
]
REASONS = {"contract-ended": 40, "job-lost": 20, "housing-lost": 10, "returned-home": 20, "moved-within-nl": 10}


def _bsn(rng: random.Random) -> str:
    while True:
        head = f"{rng.randrange(10_000_000, 99_999_999):08d}"
        check = sum(int(d) * w for d, w in zip(head, range(9, 1, -1), strict=True)) % 11
        if check < 10:
            return head + str(check)


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


async def load_demo(session: AsyncSession) -> int:
    existing = await session.scalar(select(func.count()).where(Registration.created_by_client_id == DEMO_CLIENT))
    if existing:
        return 0
    settings = RegistrySettings()
    vault = BsnVault(settings.pseudonym_key, settings.encryption_key)
    rng = random.Random(2026)  # noqa: S311 - reproducible synthetic data, nothing secret
    today = date.today()
    now = datetime.now(UTC)
    rows = []
    for _ in range(COUNT):
        work, home = _pick(rng, WORK), _pick(rng, HOME)
        arrival = today - timedelta(days=rng.randrange(5, 720))
        bsn = _bsn(rng) if rng.random() < 0.8 else None
        departed = rng.random() < 0.12
        departure_date = min(today, arrival + timedelta(days=rng.randrange(30, 400))) if departed else None
        reason = _pick(rng, REASONS) if departed else None
        destination_type = None
        destination_code = None
        if reason == "moved-within-nl":
            destination_type, destination_code = "municipality", _pick(rng, HOME)
        elif reason in ("returned-home", "contract-ended"):
            destination_type, destination_code = "abroad", _pick(rng, NATIONALITIES)
        elif departed:
            destination_type = "unknown"
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "bsn_pseudonym": vault.pseudonym(bsn) if bsn else None,
                "bsn_encrypted": vault.encrypt(bsn) if bsn else None,
                "given_names": rng.choice(GIVEN),
                "surname": rng.choice(SURNAMES),
                "date_of_birth": arrival - timedelta(days=rng.randrange(19 * 365, 58 * 365)),
                "nationality": _pick(rng, NATIONALITIES),
                "contact_email": None,
                "contact_phone": None,
                "registration_type": rng.choice(["rni", "rni", "brp-resident", "none"]),
                "channel": rng.choice(["digital", "desk", "mobile-desk"]),
                "residence_municipality_code": home,
                "residence_postcode": None,
                "residence_house_number": None,
                "housing_location_id": f"wb-{home.lower()}-{rng.randrange(1, 4):02d}" if rng.random() < 0.4 else None,
                "work_municipality_code": work,
                "employer_kvk_number": f"{rng.randrange(10_000_000, 99_999_999)}",
                "agency_kvk_number": f"{rng.randrange(10_000_000, 99_999_999)}" if rng.random() < 0.7 else None,
                "economic_location_id": ECONOMIC_LOCATIONS.get(work) if rng.random() < 0.5 else None,
                "work_start_date": arrival + timedelta(days=rng.randrange(0, 10)),
                "arrival_date": arrival,
                "expected_end_date": arrival + timedelta(days=rng.randrange(90, 900)),
                "status": "departed" if departed else "active",
                "departure_date": departure_date,
                "departure_reason": reason,
                "departure_destination_type": destination_type,
                "departure_destination_code": destination_code,
                "created_by_oin": DEMO_OIN,
                "created_by_client_id": DEMO_CLIENT,
                "created_by_type": "information-point",
                "created_at": now,
                "updated_at": now,
                "version": 1,
                "anonymised_at": None,
            }
        )
    await session.execute(insert(Registration), rows)
    await session.execute(
        insert(ProcessingLogRecord),
        [
            {
                "registration_id": r["id"],
                "trace_id": "0" * 32,
                "transaction_id": None,
                "activity": "lmx-registration",
                "action": "create",
                "organisation_oin": DEMO_OIN,
                "client_id": DEMO_CLIENT,
                "occurred_at": now,
            }
            for r in rows
        ],
    )
    return len(rows)
