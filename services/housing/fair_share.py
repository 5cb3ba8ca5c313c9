"""The fair-share computation and what of it may be published: pure functions, no I/O.

Per member municipality m of a region, with E the economic locations that apply to the region:

    atLocations(m)    = migrants working in m at any e in E              (registry statistics)
    workingMigrants(m)= working(m) - atLocations(m)                      (registry statistics)
    pool(e)           = migrants working at e, in a member municipality
    regionalShare(m)  = sum over e of key(e, m) * pool(e)                (keys sum to 1 per e)
    obligation(m)     = workingMigrants(m) + regionalShare(m)
    gap(m)            = obligation(m) - operationalBeds(m)
    fulfilment(m)     = operationalBeds(m) / obligation(m)               (none when obligation is 0)
    lagging           when fulfilment(m) < laggingFactor * sum(operationalBeds) / sum(obligation)

The obligations add up to the working migrants of the region: the keys only move the pools.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

PIPELINE_STATUSES = ("planned", "permit-granted", "under-construction")
# Floating-point slack for "below the threshold": a fulfilment equal to it is on track.
EPSILON = 1e-9


@dataclass(frozen=True)
class MemberInput:
    code: str
    name: str
    working: int
    operational_beds: int
    pipeline_beds: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class MemberFigures:
    code: str
    name: str
    working_migrants: int
    regional_share: float
    obligation: float
    operational_beds: int
    pipeline_beds: Mapping[str, int]
    gap: float
    fulfilment: float | None
    lagging: bool


@dataclass(frozen=True)
class FairShare:
    members: list[MemberFigures]
    pools: dict[str, int]
    obligation: float
    operational_beds: int
    pipeline_beds: dict[str, int]
    fulfilment: float | None
    lagging_below: float | None


def compute(
    members: Sequence[MemberInput],
    working_at_locations: Mapping[str, Mapping[str, int]],
    keys: Mapping[str, Mapping[str, float]],
    lagging_factor: float,
) -> FairShare:
    """``working_at_locations``: economic location id -> work municipality -> migrants working there;
    ``keys``: economic location id -> member municipality -> share (the locations that apply)."""
    codes = {m.code for m in members}
    pools = {
        location: sum(n for code, n in working_at_locations.get(location, {}).items() if code in codes)
        for location in keys
    }
    at_locations = {
        code: sum(working_at_locations.get(location, {}).get(code, 0) for location in keys) for code in codes
    }
    rows: list[tuple[MemberInput, int, float, float]] = []
    for member in members:
        working_migrants = max(0, member.working - at_locations[member.code])
        share = sum(keys[location].get(member.code, 0.0) * pool for location, pool in pools.items())
        rows.append((member, working_migrants, share, working_migrants + share))
    total_obligation = sum(r[3] for r in rows)
    total_beds = sum(m.operational_beds for m in members)
    regional = total_beds / total_obligation if total_obligation > 0 else None
    lagging_below = lagging_factor * regional if regional is not None else None
    figures = []
    for member, working_migrants, share, obligation in rows:
        fulfilment = member.operational_beds / obligation if obligation > 0 else None
        lagging = fulfilment is not None and lagging_below is not None and fulfilment < lagging_below - EPSILON
        figures.append(
            MemberFigures(
                code=member.code,
                name=member.name,
                working_migrants=working_migrants,
                regional_share=share,
                obligation=obligation,
                operational_beds=member.operational_beds,
                pipeline_beds={s: member.pipeline_beds.get(s, 0) for s in PIPELINE_STATUSES},
                gap=obligation - member.operational_beds,
                fulfilment=fulfilment,
                lagging=lagging,
            )
        )
    pipeline = {s: sum(m.pipeline_beds.get(s, 0) for m in members) for s in PIPELINE_STATUSES}
    return FairShare(figures, pools, total_obligation, total_beds, pipeline, regional, lagging_below)


@dataclass(frozen=True)
class Withheld:
    """What an outside caller must not see: rows whose counts are withheld, shares, region totals."""

    rows: frozenset[str]
    shares: bool
    totals: bool


def withhold(result: FairShare, viewer: str | None, threshold: int) -> Withheld:
    """Small counts stay inside the municipality concerned (docs/decisions/0016).

    1. A row whose workingMigrants is 1..threshold-1 is withheld (workingMigrants, obligation, gap,
       fulfilment), except from the municipality itself.
    2. A pool of 1..threshold-1 at an economic location is withheld by hiding every regional share,
       and the obligation of every row that carries a part of it.
    3. Secondary: a single withheld row could be recovered from the region's total, so the next
       smallest row is withheld too; when there is none, the totals are withheld instead.
    """
    if threshold <= 1:
        return Withheld(frozenset(), False, False)
    rows = {m.code for m in result.members if m.code != viewer and 0 < m.working_migrants < threshold}
    small_pool = any(0 < pool < threshold for pool in result.pools.values())
    if small_pool:
        rows |= {m.code for m in result.members if m.regional_share > 0}
    totals = False
    if len(rows) == 1:
        candidates = sorted(
            (m for m in result.members if m.code not in rows and m.code != viewer and m.obligation > 0),
            key=lambda m: (m.obligation, m.code),
        )
        if candidates:
            rows.add(candidates[0].code)
        else:
            totals = True
    return Withheld(frozenset(rows), small_pool, totals)


def publish_sum(parts: Sequence[tuple[int, bool]], threshold: int) -> tuple[int, bool]:
    """A total of counts some of which are withheld: (total, withheld?). Withheld when it is small,
    or when exactly one part is withheld (the total minus the others would reveal it)."""
    total = sum(n for n, _ in parts)
    hidden = sum(1 for _, h in parts if h)
    return total, (0 < total < threshold) or hidden == 1
