"""Suppression on its own (property-based): no hidden count can be recovered from a shown total."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.registry.suppression import grid_lines, grid_values, suppress

THRESHOLD = 5
CODES = ["GM0654", "GM0664", "GM0677", "GM0678", "GM0687"]

tables = st.dictionaries(
    st.tuples(st.sampled_from(CODES), st.sampled_from(CODES)), st.integers(min_value=1, max_value=30), max_size=25
)


def check_invariants(cells, viewer):
    values = grid_values(cells)
    lines = grid_lines(cells)

    def exempt(key):
        if key[0] == "cell":
            return viewer in (key[1], key[2])
        return key[0] in ("row", "col") and key[1] == viewer

    hidden = suppress(values, lines, exempt, THRESHOLD)
    for key, value in values.items():
        if 0 < value < THRESHOLD and not exempt(key):
            assert key in hidden, (key, value)  # primary
        if exempt(key):
            assert key not in hidden, key  # the viewer's own figures are exact
    for line in lines:
        if line.total in hidden:
            continue
        members_hidden = [m for m in line.members if m in hidden]
        assert len(members_hidden) != 1, (line, members_hidden)  # secondary: never exactly one
    return hidden


@settings(max_examples=300, deadline=None)
@given(cells=tables, viewer=st.sampled_from([None, *CODES]))
def test_no_line_with_a_shown_total_has_exactly_one_hidden_count(cells, viewer):
    check_invariants(cells, viewer)


def test_a_worked_example():
    # Row GM0654: 3 (small) and 20 -> the 20 must go too, or the row total would reveal the 3.
    cells = {("GM0654", "GM0654"): 3, ("GM0654", "GM0664"): 20, ("GM0664", "GM0664"): 40, ("GM0664", "GM0654"): 9}
    hidden = check_invariants(cells, None)
    assert ("cell", "GM0654", "GM0654") in hidden
    assert ("cell", "GM0654", "GM0664") in hidden or ("row", "GM0654") in hidden
    # For the municipality itself, everything that concerns it is exact.
    own = check_invariants(cells, "GM0654")
    assert not any(k[0] == "cell" and "GM0654" in k[1:] for k in own)
