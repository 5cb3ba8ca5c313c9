"""The fair-share computation against a hand computation, and what outsiders may see of it."""

from __future__ import annotations

import pytest

from services.housing.fair_share import MemberInput, compute, publish_sum, withhold

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


def test_outsiders_do_not_see_small_counts_nor_recover_them_from_the_total():
    result = compute(MEMBERS, {"E": AT_LOCATIONS["E"]}, {"E": KEYS["E"]}, lagging_factor=0.8)
    # obligations A 20, B 14, C 6, D 10; C works 2 (primary), the next smallest (D) goes too (secondary)
    outsider = withhold(result, viewer=None, threshold=5)
    assert outsider.rows == {"GMC", "GMD"} and not outsider.totals and not outsider.shares
    # C itself sees its own row; no other row is small: nothing withheld
    assert withhold(result, viewer="GMC", threshold=5).rows == frozenset()
    # A sees C withheld and D with it
    assert withhold(result, viewer="GMA", threshold=5).rows == {"GMC", "GMD"}


def test_a_small_pool_withholds_every_share_and_the_rows_that_carry_one():
    result = compute(MEMBERS, AT_LOCATIONS, KEYS, lagging_factor=0.8)  # pool F is 4
    pooled = withhold(result, viewer="GMA", threshold=5)
    assert pooled.shares and pooled.rows == {"GMA", "GMB", "GMC", "GMD"}
    assert withhold(result, viewer=None, threshold=1).rows == frozenset()


def test_a_single_withheld_row_without_a_partner_withholds_the_totals():
    result = compute([MemberInput("GMA", "A", 3, 1), MemberInput("GMB", "B", 40, 20)], {}, {}, 0.8)
    assert withhold(result, viewer="GMB", threshold=5).totals


def test_publish_sum():
    assert publish_sum([(10, False), (7, False)], 5) == (17, False)
    assert publish_sum([(10, False), (3, True)], 5) == (13, True)  # one withheld part
    assert publish_sum([(3, True), (2, True), (9, False)], 5) == (14, False)
    assert publish_sum([(2, True), (1, True)], 5) == (3, True)  # small itself
    assert publish_sum([], 5) == (0, False)
