# ruff: noqa: E501 - one demo location a line reads better than a wrapped table
"""Demo data for `make run`: West-Brabant housing locations across the pipeline and the region's two
economic locations with keys. Ids match the registry's demo (``wb-<municipality>-NN``,
``wb-moerdijk-logistics-park``, ``wb-borchwerf``) and the landlords are the certification demo's,
so the first fair-share report shows lagging and on-track municipalities and some locations at
risk. Fictitious; development only. Idempotent."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.housing.models import DistributionKey, EconomicLocation, HousingLocation
from services.housing.service import DATE_COLUMN, PIPELINE

DEMO_OIN = "00000099000000000000"
REGION = "west-brabant"
# Landlords of the certification demo: 71230101 granted; 71230102 expires on 31 October 2026;
# 71230103 suspended; 71230003 (agency and landlord) lost its WTTA admission.
SHORT_STAY_HALDERBERGE = "71230101"
WONEN_AAN_DE_MARK = "71230102"
KAMERS_ZEVENBERGEN = "71230103"
BRABANT_INZET = "71230003"
OTHER_LANDLORDS = ("71239001", "71239002", "71239003", "71239004")

# id, municipality, name, postcode, house number, kind, form, beds, landlord, status, status date
LOCATIONS: tuple[tuple[str, str, str, str, str, str, str, int, str, str, str], ...] = (
    ("wb-gm1709-01", "GM1709", "Logeerhuis Zevenbergen", "4761AA", "10", "short-stay", "clustered", 250, KAMERS_ZEVENBERGEN, "operational", "2024-03-01"),
    ("wb-gm1709-02", "GM1709", "Havenkwartier Moerdijk", "4781AB", "2", "mid-stay", "clustered", 120, OTHER_LANDLORDS[0], "operational", "2025-01-15"),
    ("wb-gm1709-03", "GM1709", "Logistiek Hotel Moerdijk", "4782PK", "1", "short-stay", "clustered", 150, OTHER_LANDLORDS[0], "under-construction", "2026-06-01"),
    ("wb-gm0758-01", "GM0758", "Haagse Beemden", "4824AA", "5", "mid-stay", "clustered", 140, WONEN_AAN_DE_MARK, "operational", "2023-09-01"),
    ("wb-gm0758-02", "GM0758", "Breda Noord verspreid", "4825BD", "17", "long-stay", "dispersed", 120, OTHER_LANDLORDS[1], "operational", "2024-05-01"),
    ("wb-gm0758-03", "GM0758", "Hazeldonk", "4836LA", "3", "short-stay", "clustered", 100, OTHER_LANDLORDS[1], "permit-granted", "2026-04-01"),
    ("wb-gm1674-01", "GM1674", "Borchwerf Wonen", "4704RA", "8", "short-stay", "clustered", 90, OTHER_LANDLORDS[2], "operational", "2024-02-01"),
    ("wb-gm1674-02", "GM1674", "Kade Roosendaal", "4701AB", "21", "mid-stay", "clustered", 120, OTHER_LANDLORDS[2], "planned", "2026-02-01"),
    ("wb-gm1674-03", "GM1674", "Tolberg", "4709AA", "4", "long-stay", "dispersed", 80, OTHER_LANDLORDS[2], "under-construction", "2026-05-01"),
    ("wb-gm0777-01", "GM0777", "Etten-Leur Zuid", "4874AA", "12", "short-stay", "clustered", 80, BRABANT_INZET, "operational", "2024-06-01"),
    ("wb-gm0777-02", "GM0777", "Vosdonk", "4879AD", "6", "mid-stay", "clustered", 60, OTHER_LANDLORDS[3], "planned", "2026-03-01"),
    ("wb-gm0826-01", "GM0826", "Weststad Oosterhout", "4903AA", "30", "short-stay", "clustered", 200, OTHER_LANDLORDS[3], "operational", "2023-04-01"),
    ("wb-gm0826-02", "GM0826", "Oosterhout centrum verspreid", "4901AB", "9", "long-stay", "dispersed", 60, OTHER_LANDLORDS[3], "operational", "2025-03-01"),
    ("wb-gm0826-03", "GM0826", "Vijf Eiken", "4905AB", "2", "mid-stay", "clustered", 80, OTHER_LANDLORDS[3], "planned", "2026-09-01"),
    ("wb-gm1655-01", "GM1655", "Oudenbosch Short Stay", "4731AB", "12", "short-stay", "clustered", 80, SHORT_STAY_HALDERBERGE, "operational", "2025-09-01"),
    ("wb-gm1655-02", "GM1655", "Hoeven", "4741AA", "3", "mid-stay", "dispersed", 48, SHORT_STAY_HALDERBERGE, "operational", "2025-10-01"),
    ("wb-gm1655-03", "GM1655", "Bosschenhoofd", "4744AB", "1", "long-stay", "clustered", 40, OTHER_LANDLORDS[0], "planned", "2026-07-01"),
    ("wb-gm0748-01", "GM0748", "Bergen op Zoom Noord", "4611AA", "15", "short-stay", "clustered", 100, OTHER_LANDLORDS[1], "operational", "2024-01-01"),
    ("wb-gm0748-02", "GM0748", "Theodorushaven", "4614AB", "7", "mid-stay", "clustered", 80, OTHER_LANDLORDS[1], "permit-granted", "2026-08-01"),
    ("wb-gm0879-01", "GM0879", "Zundert", "4881AA", "4", "short-stay", "clustered", 70, OTHER_LANDLORDS[2], "operational", "2024-08-01"),
    ("wb-gm1719-01", "GM1719", "Made", "4921AA", "2", "short-stay", "clustered", 30, OTHER_LANDLORDS[2], "planned", "2026-10-01"),
    ("wb-gm0840-01", "GM0840", "Rucphen", "4715AA", "11", "mid-stay", "dispersed", 30, OTHER_LANDLORDS[3], "operational", "2025-02-01"),
    ("wb-gm0851-01", "GM0851", "Steenbergen", "4651AA", "5", "short-stay", "clustered", 24, OTHER_LANDLORDS[3], "operational", "2025-05-01"),
    ("wb-gm0851-02", "GM0851", "Welberg", "4652AB", "2", "mid-stay", "clustered", 30, OTHER_LANDLORDS[3], "under-construction", "2026-09-15"),
    ("wb-gm0873-01", "GM0873", "Hoogerheide", "4631AA", "9", "short-stay", "clustered", 40, OTHER_LANDLORDS[0], "operational", "2024-11-01"),
    ("wb-gm0744-01", "GM0744", "Baarle-Nassau", "5111AA", "3", "long-stay", "dispersed", 12, OTHER_LANDLORDS[0], "operational", "2025-06-01"),
    ("wb-gm0779-01", "GM0779", "Raamsdonksveer", "4941AA", "14", "short-stay", "clustered", 50, OTHER_LANDLORDS[1], "operational", "2024-04-01"),
    ("wb-gm1723-01", "GM1723", "Alphen", "5131AA", "1", "mid-stay", "clustered", 20, OTHER_LANDLORDS[1], "planned", "2026-11-01"),
    ("wb-gm1959-01", "GM1959", "Werkendam", "4251AA", "6", "short-stay", "clustered", 16, OTHER_LANDLORDS[2], "operational", "2025-04-01"),
)  # fmt: skip

ECONOMIC_LOCATIONS: tuple[tuple[str, str, str, dict[str, float]], ...] = (
    ("wb-moerdijk-logistics-park", "Logistiek Park Moerdijk", "GM1709", {
        "GM1709": 0.30, "GM0758": 0.15, "GM1674": 0.10, "GM0777": 0.10, "GM0826": 0.10,
        "GM1655": 0.10, "GM0748": 0.05, "GM0879": 0.05, "GM1719": 0.05,
    }),
    ("wb-borchwerf", "Borchwerf Roosendaal", "GM1674", {
        "GM1674": 0.40, "GM0748": 0.20, "GM1655": 0.10, "GM0840": 0.10, "GM0851": 0.10, "GM0873": 0.10,
    }),
)  # fmt: skip


async def load_demo(session: AsyncSession) -> int:
    """Adds the demo locations and economic locations once; returns rows added."""
    if await session.scalar(select(func.count()).select_from(EconomicLocation)):
        return 0
    now = datetime.now(UTC)
    added = 0
    for location_id, name, host, keys in ECONOMIC_LOCATIONS:
        session.add(
            EconomicLocation(
                id=location_id,
                name=name,
                region_code=REGION,
                host_municipality_code=host,
                created_by_oin=DEMO_OIN,
                created_at=now,
                updated_at=now,
                version=1,
            )
        )
        await session.flush()
        session.add_all(
            DistributionKey(economic_location_id=location_id, municipality_code=code, share=share)
            for code, share in keys.items()
        )
        added += 1 + len(keys)
    for location_id, code, name, postcode, number, kind, form, beds, landlord, status, since in LOCATIONS:
        if await session.get(HousingLocation, location_id) is not None:
            continue
        row = HousingLocation(
            id=location_id,
            municipality_code=code,
            name=name,
            postcode=postcode,
            house_number=number,
            kind=kind,
            form=form,
            beds=beds,
            landlord_kvk_number=landlord,
            status=status,
            planned_on=date(2023, 1, 1),
            expected_opening_on=None if PIPELINE.index(status) >= PIPELINE.index("operational") else date(2027, 6, 1),
            created_by_oin=DEMO_OIN,
            created_at=now,
            updated_at=now,
            version=1,
        )
        setattr(row, DATE_COLUMN[status], date.fromisoformat(since))
        session.add(row)
        added += 1
    await session.flush()
    return added
