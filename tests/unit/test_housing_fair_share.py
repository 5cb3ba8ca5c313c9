"""The fair-share computation against a hand computation and an independent one, and what each caller sees."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmx_common.disclosure import KEY_RANGE, Disclosure, PTable, cell_key
from services.housing.fair_share import CellKeys, MemberInput, compute, publish

# Region of four: A hosts economic location E (keys A .5, B .3, C .2; D none) and F (keys B .5, D .5).
MEMBERS = [
    MemberInput("GMA", "A", working=30, operational_beds=20, pipeline_beds={"planned": 5, "operational": 20}),
    MemberInput("GMB", "B", working=8, operational_beds=4, pipeline_beds={"under-construction": 12}),
    MemberInput("GMC", "C", working=2, operational_beds=8),
    MemberInput("GMD", "D", working=10, operational_beds=10, pipeline_beds={"permit-granted": 3}),
]
AT_LOCATIONS = {"E": {"GMA": 20, "GMX": 7}, "F": {"GMD": 4}}  # GMX lies outside the region
KEYS = {"E": {"GMA": 0.5, "GMB": 0.3, "GMC": 0.2}, "F": {"GMB": 0.5, "GMD": 0.5}}


def test_figures_equal_the_hand_computation():
    result = compute(MEMBERS, AT_LOCATIONS, KEYS, lagging_factor=0.8)
    rows = {m.code: m for m in result.members}
    # pools: E = 20 (GMX is not a member), F = 4
    assert result.pools == {"E": 20, "F": 4}
    # workingMigrants = working - at the region's economic locations
    assert [rows[c].working_migrants for c in ("GMA", "GMB", "GMC", "GMD")] == [10, 8, 2, 6]
    # regionalShare: A .5*20 = 10; B .3*20 + .5*4 = 8; C .2*20 = 4; D .5*4 = 2
    assert [rows[c].regional_share for c in ("GMA", "GMB", "GMC", "GMD")] == pytest.approx([10, 8, 4, 2])
    # obligation = workingMigrants + regionalShare; they add up to everybody working in the region
    assert [rows[c].obligation for c in ("GMA", "GMB", "GMC", "GMD")] == pytest.approx([20, 16, 6, 8])
    assert result.obligation == pytest.approx(50) == sum(m.working for m in MEMBERS)
    # gap = obligation - operational beds; fulfilment = beds / obligation
    assert [rows[c].gap for c in ("GMA", "GMB", "GMC", "GMD")] == pytest.approx([0, 12, -2, -2])
    assert [rows[c].fulfilment for c in ("GMA", "GMB", "GMC", "GMD")] == pytest.approx([1, 0.25, 8 / 6, 1.25])
    # regional fulfilment 42/50 = 0.84; lagging below 0.8 * 0.84 = 0.672: only B
    assert result.fulfilment == pytest.approx(0.84)
    assert result.lagging_below == pytest.approx(0.672)
    assert [c for c in rows if rows[c].lagging] == ["GMB"]
    assert rows["GMA"].pipeline_beds == {"planned": 5, "permit-granted": 0, "under-construction": 0}
    assert result.pipeline_beds == {"planned": 5, "permit-granted": 3, "under-construction": 12}


def test_the_lagging_rule_follows_the_factor_and_is_strictly_below():
    # factor 1.0: lagging below 0.84 -> A (1.0) on track, B (0.25) lagging
    strict = compute(MEMBERS, AT_LOCATIONS, KEYS, lagging_factor=1.0)
    assert {m.code for m in strict.members if m.lagging} == {"GMB"}
    # factor 0.25 / 0.84: the threshold equals B's fulfilment exactly, which is not below it
    edge = compute(MEMBERS, AT_LOCATIONS, KEYS, lagging_factor=0.25 / 0.84)
    assert not any(m.lagging for m in edge.members)


def test_no_obligation_means_no_fulfilment_and_nobody_lags():
    result = compute([MemberInput("GMA", "A", 0, 5), MemberInput("GMB", "B", 0, 0)], {}, {}, 0.8)
    assert result.fulfilment is None and result.lagging_below is None
    assert all(m.fulfilment is None and not m.lagging for m in result.members)


_random = random.Random(27)
# Cell keys as the registry documents them: the sum of the record keys of the records a cell counts.
RECORD_KEYS = {  # (work municipality, economic location or None) -> the record keys of those people
    (m, e): [_random.randrange(KEY_RANGE) for _ in range(n)]
    for (m, e), n in {
        ("GMA", None): 10, ("GMA", "E"): 20, ("GMX", "E"): 7, ("GMB", None): 8,
        ("GMC", None): 2, ("GMD", None): 6, ("GMD", "F"): 4,
    }.items()
}  # fmt: skip


def registry_cells() -> tuple[CellKeys, dict[str, list[int]]]:
    """The keys of working(m) and of (e, m), from the record keys; and the records of each pool."""
    working = {m: cell_key(k for (w, _), keys in RECORD_KEYS.items() if w == m for k in keys) for m in CODES}
    located: dict[str, dict[str, int]] = {}
    for (m, e), keys in RECORD_KEYS.items():
        if e is not None:
            located.setdefault(e, {})[m] = cell_key(keys)
    pools = {e: [k for (m, f), keys in RECORD_KEYS.items() if f == e and m in CODES for k in keys] for e in KEYS}
    return CellKeys(working, located), pools


CODES = [m.code for m in MEMBERS]
TABLE = PTable(threshold=5)


def test_the_registry_cells_match_the_members_counts():
    assert {m.code: m.working for m in MEMBERS} == {
        c: sum(len(keys) for (w, _), keys in RECORD_KEYS.items() if w == c) for c in CODES
    }


@pytest.mark.parametrize("viewer", [None, "GMC", "GMA"])
def test_published_figures_are_what_the_ptable_gives_for_the_documented_keys(viewer):
    keys, pool_records = registry_cells()
    result = compute(MEMBERS, AT_LOCATIONS, KEYS, lagging_factor=0.8)
    shown = publish(result, MEMBERS, KEYS, keys, Disclosure(TABLE, viewer=viewer), 0.8)
    # pools: the union of the members' records at e, perturbed for everybody
    pools = {e: TABLE.published(len(records), cell_key(records)) for e, records in pool_records.items()}
    assert shown.pools == {e: (n, False) for e, n in pools.items()}
    for row in shown.members:
        # workingMigrants: the records working in m at no economic location of the region
        records = RECORD_KEYS.get((row.code, None), [])
        expected = len(records) if row.code == viewer else TABLE.published(len(records), cell_key(records))
        assert (row.working_migrants, row.working_migrants_exact) == (expected, row.code == viewer)
        share = sum(KEYS[e].get(row.code, 0.0) * pools[e] for e in KEYS)
        assert row.regional_share == pytest.approx(share)
        assert row.obligation == pytest.approx(expected + share)
        beds = next(m.operational_beds for m in MEMBERS if m.code == row.code)
        assert row.gap == pytest.approx(expected + share - beds)
        assert row.fulfilment == (pytest.approx(beds / (expected + share)) if expected + share else None)
        assert row.exact is False  # every row carries a part of a perturbed pool
    # the total: everybody working in a member, one cell, not the sum of the rows
    everybody = [k for (m, _), ks in RECORD_KEYS.items() if m in CODES for k in ks]
    total = TABLE.published(len(everybody), cell_key(everybody))
    assert (shown.obligation, shown.obligation_exact) == (total, False)
    assert shown.gap == total - 42 and shown.fulfilment == pytest.approx(42 / total)
    assert shown.lagging_below == pytest.approx(0.8 * 42 / total)
    # lagging is decided on the true figures
    assert [m.lagging for m in shown.members] == [m.lagging for m in result.members]


def test_an_exact_caller_sees_the_computation_itself_and_a_sole_member_its_own_total():
    keys, _ = registry_cells()
    result = compute(MEMBERS, AT_LOCATIONS, KEYS, lagging_factor=0.8)
    shown = publish(result, MEMBERS, KEYS, keys, Disclosure(TABLE, exact=True), 0.8)
    for published, row in zip(shown.members, result.members, strict=True):
        assert (published.working_migrants, published.exact) == (row.working_migrants, True)
        assert published.obligation == pytest.approx(row.obligation)
    assert shown.pools == {"E": (20, True), "F": (4, True)} and shown.obligation == 50 and shown.obligation_exact
    alone = [MemberInput("GMC", "C", working=2, operational_beds=1)]
    own = compute(alone, {}, {}, 0.8)
    cells = CellKeys({"GMC": cell_key(RECORD_KEYS[("GMC", None)])}, {})
    assert publish(own, alone, {}, cells, Disclosure(TABLE, viewer="GMC"), 0.8).obligation == 2
    outside = publish(own, alone, {}, cells, Disclosure(TABLE, viewer="GMA"), 0.8)
    assert outside.obligation in (0, 5) and not outside.obligation_exact


def test_differencing_the_total_and_the_other_rows_gives_no_small_count_exactly():
    """Total minus the published rows of the others was C's obligation under suppression; now it is noise."""
    keys, _ = registry_cells()
    result = compute(MEMBERS, {"E": AT_LOCATIONS["E"]}, {"E": KEYS["E"]}, lagging_factor=0.8)
    shown = publish(result, MEMBERS, {"E": KEYS["E"]}, keys, Disclosure(TABLE, viewer="GMA"), 0.8)
    for row in shown.members:
        assert row.working_migrants not in range(1, TABLE.threshold)
    rows = {m.code: m for m in shown.members}
    # what GMA can see: its own exactly; C's 2 working migrants are 0 or 5, never 2
    assert rows["GMA"].working_migrants_exact and rows["GMC"].working_migrants in (0, TABLE.threshold)


def recompute(
    members: list[MemberInput], at: dict[str, dict[str, int]], shares: dict[str, dict[str, float]], factor: float
) -> dict[str, Any]:
    """The fair share by its definition in docs/housing.md, written out again without ``compute``."""
    member_codes = [m.code for m in members]
    pool = {e: sum(n for m, n in at.get(e, {}).items() if m in member_codes) for e in shares}
    out: dict[str, Any] = {"pools": pool, "rows": {}}
    total_obligation, total_beds = 0.0, 0
    for m in members:
        outside = m.working - sum(at.get(e, {}).get(m.code, 0) for e in shares)
        share = 0.0
        for e in shares:
            share += shares[e].get(m.code, 0.0) * pool[e]
        out["rows"][m.code] = [outside, share, outside + share, outside + share - m.operational_beds]
        total_obligation += outside + share
        total_beds += m.operational_beds
    regional = total_beds / total_obligation if total_obligation else None
    for m in members:
        row = out["rows"][m.code]
        fulfilment = m.operational_beds / row[2] if row[2] else None
        below = factor * regional if regional is not None else None
        row += [fulfilment, fulfilment is not None and below is not None and fulfilment < below - 1e-9]
    out["total"] = total_obligation
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), min_size=1, max_size=6),
    st.lists(st.lists(st.integers(0, 20), min_size=7, max_size=7), max_size=3),
    st.lists(st.lists(st.integers(0, 10), min_size=6, max_size=6), max_size=3),
    st.floats(0.1, 1.5),
)
def test_an_independent_recomputation_from_exact_counts_equals_compute(sizes, located, weights, factor):
    members = [
        MemberInput(f"GM{i:04d}", f"M{i}", working=w + sum(loc[i] for loc in located), operational_beds=b)
        for i, (w, b) in enumerate(sizes)
    ]
    # counts at each economic location per work municipality; index 6 lies outside the region
    at = {
        f"E{j}": {f"GM{i:04d}": loc[i] for i in range(len(sizes))} | {"GM9999": loc[6]} for j, loc in enumerate(located)
    }
    shares: dict[str, dict[str, float]] = {}
    for j, w in enumerate(weights[: len(located)]):
        total = sum(w[: len(sizes)]) or 1
        shares[f"E{j}"] = {f"GM{i:04d}": (w[i] if sum(w[: len(sizes)]) else i == 0) / total for i in range(len(sizes))}
    expected = recompute(members, at, shares, factor)
    result = compute(members, at, shares, factor)
    assert result.pools == expected["pools"]
    assert result.obligation == pytest.approx(expected["total"])
    for row in result.members:
        outside, share, obligation, gap, fulfilment, lagging = expected["rows"][row.code]
        assert (row.working_migrants, row.lagging) == (outside, lagging)
        assert [row.regional_share, row.obligation, row.gap] == pytest.approx([share, obligation, gap])
        assert row.fulfilment == (None if fulfilment is None else pytest.approx(fulfilment))
