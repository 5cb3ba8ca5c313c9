"""Suppression on its own (property-based): no hidden count can be recovered from a shown total."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.registry.suppression import grid_lines, grid_values, suppress, suppress_grid

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


@settings(max_examples=300, deadline=None)
@given(cells=tables, viewer=st.sampled_from([None, *CODES]))
def test_the_array_version_hides_exactly_what_the_generic_one_hides(cells, viewer):
    """`suppress_grid` (integer keys, what the endpoints use) against `suppress` over `grid_lines`."""
    generic = check_invariants(cells, viewer)
    grid = suppress_grid([(r, c, v) for (r, c), v in cells.items()], THRESHOLD, viewer)
    hidden_cells = {("cell", r, c) for (r, c, _), hidden in zip(grid.cells, grid.hidden, strict=True) if hidden}
    assert hidden_cells == {k for k in generic if k[0] == "cell"}
    assert {("row", code) for code, _, hidden in grid.rows if hidden} == {k for k in generic if k[0] == "row"}
    assert {("col", code) for code, _, hidden in grid.cols if hidden} == {k for k in generic if k[0] == "col"}
    assert grid.total == (sum(cells.values()), ("all",) in generic)
    values = grid_values(cells)
    assert grid.cells == sorted((r, c, v) for (r, c), v in cells.items())
    assert {("row", code): v for code, v, _ in grid.rows} == {k: v for k, v in values.items() if k[0] == "row"}
    assert {("col", code): v for code, v, _ in grid.cols} == {k: v for k, v in values.items() if k[0] == "col"}


def test_an_exact_grid_hides_nothing():
    grid = suppress_grid([("GM0654", "GM0664", 1), ("GM0664", "GM0664", 2)], THRESHOLD, exact=True)
    assert not any(grid.hidden) and grid.total == (3, False)
