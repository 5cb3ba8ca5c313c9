"""The registry's statistics, as the fair share and the at-risk lists need them.

Every answer the registry gives is kept as a snapshot; when the registry (or the gateway) cannot
be reached, the last snapshot is served and marked stale, with the time the registry produced it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.housing import repository
from services.housing.clients import GatewayClient, UpstreamUnavailable
from services.housing.models import StatisticsSnapshot

logger = logging.getLogger("lmx.housing.statistics")

STATISTICS = "/registry/v1/statistics"
MAX_IDS_PER_CALL = 500


class NoFigures(Exception):
    """The registry cannot be reached and no earlier figures were kept."""


@dataclass(frozen=True)
class Figures:
    payload: dict[str, Any]
    as_of: datetime
    stale: bool


def _count(value: Any) -> int:
    # A suppressed count (null) only reaches us without registry:statistics-exact; count it as 0.
    if isinstance(value, dict):
        value = value.get("count")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _as_of(payload: dict[str, Any]) -> datetime:
    try:
        value = datetime.fromisoformat(str(payload["asOf"]).replace("Z", "+00:00"))
    except (KeyError, ValueError) as exc:
        raise UpstreamUnavailable("statistics without asOf") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _fetch(
    session: AsyncSession, gateway: GatewayClient, key: str, path: str, params: Sequence[tuple[str, str | int]]
) -> Figures:
    try:
        payload = await gateway.get_json(STATISTICS + path, params)
        as_of = _as_of(payload)
    except UpstreamUnavailable as exc:
        logger.warning("registry statistics unavailable", extra={"reason": str(exc)})
        row = await session.get(StatisticsSnapshot, key)
        if row is None:
            raise NoFigures(str(exc)) from exc
        return Figures(row.payload, row.as_of, True)
    await repository.save_snapshots(session, [(key, payload, as_of)])
    return Figures(payload, as_of, False)


@dataclass(frozen=True)
class WorkingFigures:
    working: dict[str, int]  # municipality -> active migrants working there
    at_locations: dict[str, dict[str, int]]  # economic location -> work municipality -> working there
    as_of: datetime
    stale: bool


async def working_figures(
    session: AsyncSession, gateway: GatewayClient, province_codes: Iterable[str], location_ids: Iterable[str]
) -> WorkingFigures:
    """Working migrants per municipality of these provinces, and at these economic locations."""
    working: dict[str, int] = {}
    at_locations: dict[str, dict[str, int]] = {}
    moments: list[datetime] = []
    stale = False
    for province in sorted(set(province_codes)):
        figures = await _fetch(
            session, gateway, f"municipalities:{province}", "/municipalities", [("provinceCode", province)]
        )
        for item in figures.payload.get("items", []):
            working[str(item["municipalityCode"])] = _count(item.get("working"))
        moments.append(figures.as_of)
        stale = stale or figures.stale
    ids = sorted(set(location_ids))
    if ids:
        figures = await _fetch(
            session,
            gateway,
            "economic-locations:" + ",".join(ids),
            "/economic-locations",
            [("economicLocationId", i) for i in ids],
        )
        for item in figures.payload.get("items", []):
            at_locations.setdefault(str(item["economicLocationId"]), {})[str(item["workMunicipalityCode"])] = _count(
                item.get("working")
            )
        moments.append(figures.as_of)
        stale = stale or figures.stale
    return WorkingFigures(working, at_locations, min(moments), stale)


@dataclass(frozen=True)
class ResidentFigures:
    residents: dict[str, int | None]  # housing location -> active residents (None: never known)
    as_of: datetime | None
    stale: bool


async def resident_figures(
    session: AsyncSession, gateway: GatewayClient, location_ids: Sequence[str]
) -> ResidentFigures:
    """Active residents per housing location; the last known counts, stale, when the registry is down."""
    ids = sorted(set(location_ids))
    if not ids:
        return ResidentFigures({}, None, False)
    residents: dict[str, int | None] = dict.fromkeys(ids, 0)
    moments: list[datetime] = []
    try:
        for start in range(0, len(ids), MAX_IDS_PER_CALL):
            chunk = ids[start : start + MAX_IDS_PER_CALL]
            payload = await gateway.get_json(
                STATISTICS + "/housing-locations", [("housingLocationId", i) for i in chunk]
            )
            moments.append(_as_of(payload))
            for item in payload.get("items", []):
                location = str(item["housingLocationId"])
                if location in residents:
                    residents[location] = (residents[location] or 0) + _count(item.get("residents"))
    except UpstreamUnavailable as exc:
        logger.warning("registry statistics unavailable", extra={"reason": str(exc)})
        rows = (
            await session.execute(
                select(StatisticsSnapshot).where(StatisticsSnapshot.key.in_([f"residents:{i}" for i in ids]))
            )
        ).scalars()
        known = {row.key.removeprefix("residents:"): row for row in rows}
        return ResidentFigures(
            {i: _count(known[i].payload.get("residents")) if i in known else None for i in ids},
            min((row.as_of for row in known.values()), default=None),
            True,
        )
    as_of = min(moments)
    await repository.save_snapshots(
        session, [(f"residents:{i}", {"residents": n}, as_of) for i, n in residents.items()]
    )
    return ResidentFigures(residents, as_of, False)
