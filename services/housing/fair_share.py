"""The fair-share computation, on exact counts, and what of it is published: pure functions, no I/O.

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
``compute`` works on the exact counts; ``publish`` gives a caller the figures through the cell-key
method (lmx_common/disclosure.py, docs/privacy.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lmx_common.disclosure import Disclosure, cell_key, key_difference

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
class CellKeys:
    """The registry's cell keys of the counts ``compute`` took (docs/privacy.md)."""

    working: Mapping[str, int]  # member municipality -> key of its working migrants
    at_locations: Mapping[str, Mapping[str, int]]  # economic location id -> work municipality -> key


@dataclass(frozen=True)
class PublishedMember:
    code: str
    working_migrants: int
    working_migrants_exact: bool
    regional_share: float
    obligation: float
    gap: float
    fulfilment: float | None
    exact: bool  # regionalShare, obligation, gap and fulfilment are the true figures
    lagging: bool  # decided on the true figures


@dataclass(frozen=True)
class PublishedFairShare:
    members: list[PublishedMember]
    pools: dict[str, tuple[int, bool]]  # economic location id -> (published pool, exact?)
    obligation: int  # the region's obligation: everybody working in its members, one published cell
    obligation_exact: bool
    gap: int
    fulfilment: float | None
    lagging_below: float | None


def publish(
    result: FairShare,
    members: Sequence[MemberInput],
    shares: Mapping[str, Mapping[str, float]],
    cell_keys: CellKeys,
    view: Disclosure,
    lagging_factor: float,
) -> PublishedFairShare:
    """What one caller sees of ``result`` (computed on exact counts): every count through the cell-key method.

    - workingMigrants(m) is the cell working(m) minus the cells (e, m): its key is the difference of
      theirs; the municipality concerned sees it exactly.
    - pool(e) is the union of the cells (e, m) of the members: its key is the sum of theirs; it concerns
      several municipalities, so it is perturbed for every caller that is not exact.
    - regionalShare(m) = sum of share(e, m) x published pool(e); obligation = published workingMigrants +
      published regionalShare; gap and fulfilment follow from the published obligation.
    - The region's obligation is one cell, everybody working in a member (key: the sum of the members'
      working keys), not the sum of the published rows: a total minus the other rows gives noise.
    - lagging or on track is decided on the true figures (``result``), which are never published.
    """
    codes = [m.code for m in members]
    pools: dict[str, tuple[int, bool]] = {}
    for location, pool in result.pools.items():
        located = cell_keys.at_locations.get(location, {})
        key = cell_key(located.get(code, 0) for code in codes)
        pools[location] = view.value(pool, key, None)
    published = []
    for row in result.members:
        at_key = cell_key(cell_keys.at_locations.get(location, {}).get(row.code, 0) for location in shares)
        key = key_difference(cell_keys.working.get(row.code, 0), at_key)
        working_migrants, working_exact = view.value(row.working_migrants, key, row.code)
        carried = [(shares[location].get(row.code, 0.0), pools[location]) for location in shares]
        regional_share = sum(share * pool for share, (pool, _) in carried)
        share_exact = all(exact for share, (_, exact) in carried if share > 0)
        obligation = working_migrants + regional_share
        published.append(
            PublishedMember(
                code=row.code,
                working_migrants=working_migrants,
                working_migrants_exact=working_exact,
                regional_share=regional_share,
                obligation=obligation,
                gap=obligation - row.operational_beds,
                fulfilment=row.operational_beds / obligation if obligation > 0 else None,
                exact=working_exact and share_exact,
                lagging=row.lagging,
            )
        )
    total = sum(m.working for m in members)
    total_key = cell_key(cell_keys.working.get(code, 0) for code in codes)
    # A total over several municipalities concerns none of them alone: exact only for its sole member.
    obligation, obligation_exact = view.value(total, total_key, codes[0] if len(codes) == 1 else None)
    fulfilment = result.operational_beds / obligation if obligation > 0 else None
    return PublishedFairShare(
        members=published,
        pools=pools,
        obligation=obligation,
        obligation_exact=obligation_exact,
        gap=obligation - result.operational_beds,
        fulfilment=fulfilment,
        lagging_below=lagging_factor * fulfilment if fulfilment is not None else None,
    )
