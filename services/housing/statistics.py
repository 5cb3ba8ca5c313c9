"""The registry's statistics, as the fair share and the at-risk lists need them.

Every answer the registry gives is kept as a snapshot; when the registry (or the gateway) cannot
be reached, the last snapshot is served and marked stale, with the time the registry produced it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.disclosure import KEY_RANGE, cell_key
from services.housing import repository
from services.housing.clients import GatewayClient, UpstreamUnavailable
from services.housing.models import StatisticsSnapshot

logger = logging.getLogger("lmx.housing.statistics")

STATISTICS = "/registry/v1/statistics"
MAX_IDS_PER_CALL = 500
T = TypeVar("T")


class NoFigures(Exception):
    """The registry cannot be reached and no earlier figures were kept."""


Cell = tuple[int, int]  # (exact count, cell key) as the registry gives them to the housing service's client


def _cell(value: Any) -> Cell:
    """A registry count for a client with registry:statistics-exact: ``{"count", "exact", "cellKey"}``.

    Without its cell key a count cannot be published consistently with the registry's own answers
    (docs/privacy.md), so an answer without one is not used."""
    if not isinstance(value, dict):
        raise ValueError("a count is an object")
    if value.get("exact", True) is not True:
        raise ValueError("a perturbed count (is registry:statistics-exact granted?)")
    count, key = value.get("count"), value.get("cellKey")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValueError("a count without its exact value")
    if not isinstance(key, int) or isinstance(key, bool) or key < 0:
        raise ValueError("a count without its cell key (is registry:statistics-exact granted?)")
    return count, key % KEY_RANGE


def _as_of(payload: dict[str, Any]) -> datetime:
    try:
        value = datetime.fromisoformat(str(payload["asOf"]).replace("Z", "+00:00"))
    except (KeyError, ValueError) as exc:
        raise UpstreamUnavailable("statistics without asOf") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Figures(Generic[T]):
    value: T
    as_of: datetime
    stale: bool


async def _fetch(
    session: AsyncSession,
    gateway: GatewayClient,
    key: str,
    path: str,
    params: Sequence[tuple[str, str | int]],
    parse: Callable[[dict[str, Any]], T],
) -> Figures[T]:
    try:
        payload = await gateway.get_json(STATISTICS + path, params)
        as_of = _as_of(payload)
        try:
            value = parse(payload)
        except (KeyError, TypeError, ValueError) as exc:
            raise UpstreamUnavailable(f"{path}: unusable statistics ({exc})") from exc
    except UpstreamUnavailable as exc:
        logger.warning("registry statistics unavailable", extra={"reason": str(exc)})
        row = await session.get(StatisticsSnapshot, key)
        if row is None:
            raise NoFigures(str(exc)) from exc
        try:
            return Figures(parse(row.payload), row.as_of, True)
        except (KeyError, TypeError, ValueError) as old:  # kept before cell keys: not usable
            raise NoFigures(str(exc)) from old
    await repository.save_snapshots(session, [(key, payload, as_of)])
    return Figures(value, as_of, False)


@dataclass(frozen=True)
class WorkingFigures:
    working: dict[str, Cell]  # municipality -> active migrants working there
    at_locations: dict[str, dict[str, Cell]]  # economic location -> work municipality -> working there
    as_of: datetime
    stale: bool


def _working(payload: dict[str, Any]) -> dict[str, Cell]:
    return {str(item["municipalityCode"]): _cell(item["working"]) for item in payload.get("items", [])}


def _at_locations(payload: dict[str, Any]) -> dict[str, dict[str, Cell]]:
    cells: dict[str, dict[str, Cell]] = {}
    for item in payload.get("items", []):
        location = cells.setdefault(str(item["economicLocationId"]), {})
        location[str(item["workMunicipalityCode"])] = _cell(item["working"])
    return cells


async def working_figures(
    session: AsyncSession, gateway: GatewayClient, province_codes: Iterable[str], location_ids: Iterable[str]
) -> WorkingFigures:
    """Working migrants per municipality of these provinces, and at these economic locations (exact, with keys)."""
    working: dict[str, Cell] = {}
    at_locations: dict[str, dict[str, Cell]] = {}
    moments: list[datetime] = []
    stale = False
    for province in sorted(set(province_codes)):
        figures = await _fetch(
            session, gateway, f"municipalities:{province}", "/municipalities", [("provinceCode", province)], _working
        )
        working.update(figures.value)
        moments.append(figures.as_of)
        stale = stale or figures.stale
    ids = sorted(set(location_ids))
    if ids:
        located = await _fetch(
            session,
            gateway,
            "economic-locations:" + ",".join(ids),
            "/economic-locations",
            [("economicLocationId", i) for i in ids],
            _at_locations,
        )
        at_locations = located.value
        moments.append(located.as_of)
        stale = stale or located.stale
    return WorkingFigures(working, at_locations, min(moments), stale)


@dataclass(frozen=True)
class ResidentFigures:
    residents: dict[str, Cell | None]  # housing location -> active residents, cell key (None: never known)
    as_of: datetime | None
    stale: bool


def _snapshot_cell(payload: dict[str, Any]) -> Cell | None:
    try:
        return _cell({"count": payload.get("residents"), "cellKey": payload.get("cellKey")})
    except ValueError:
        return None  # kept before cell keys: as good as never known


async def resident_figures(
    session: AsyncSession, gateway: GatewayClient, location_ids: Sequence[str]
) -> ResidentFigures:
    """Active residents per housing location; the last known counts, stale, when the registry is down."""
    ids = sorted(set(location_ids))
    if not ids:
        return ResidentFigures({}, None, False)
    residents: dict[str, Cell] = dict.fromkeys(ids, (0, 0))
    moments: list[datetime] = []
    try:
        for start in range(0, len(ids), MAX_IDS_PER_CALL):
            chunk = ids[start : start + MAX_IDS_PER_CALL]
            payload = await gateway.get_json(
                STATISTICS + "/housing-locations", [("housingLocationId", i) for i in chunk]
            )
            moments.append(_as_of(payload))
            try:
                for item in payload.get("items", []):
                    location = str(item["housingLocationId"])
                    if location in residents:
                        n, key = _cell(item["residents"])
                        before = residents[location]
                        residents[location] = (before[0] + n, cell_key((before[1], key)))
            except (KeyError, TypeError, ValueError) as exc:
                raise UpstreamUnavailable(f"/housing-locations: unusable statistics ({exc})") from exc
    except UpstreamUnavailable as exc:
        logger.warning("registry statistics unavailable", extra={"reason": str(exc)})
        rows = (
            await session.execute(
                select(StatisticsSnapshot).where(StatisticsSnapshot.key.in_([f"residents:{i}" for i in ids]))
            )
        ).scalars()
        known = {row.key.removeprefix("residents:"): row for row in rows}
        cells = {i: _snapshot_cell(known[i].payload) if i in known else None for i in ids}
        return ResidentFigures(
            cells,
            min((row.as_of for i, row in known.items() if cells[i] is not None), default=None),
            True,
        )
    as_of = min(moments)
    await repository.save_snapshots(
        session,
        [(f"residents:{i}", {"residents": n, "cellKey": key}, as_of) for i, (n, key) in residents.items()],
    )
    return ResidentFigures(dict(residents), as_of, False)
