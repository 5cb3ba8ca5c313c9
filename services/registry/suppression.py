"""Small-count suppression for statistics (primary and secondary).

Primary: a count of 1..threshold-1 is hidden from a viewer outside the municipalities the count
concerns. Secondary: wherever a published total would let the viewer compute a hidden count (one
hidden member in a line whose total is shown), a second member is hidden too — the smallest
non-zero count the viewer is not entitled to — or, failing that, the total itself. Repeated until
every line with a shown total has no hidden member or at least two.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Line(Generic[K]):
    """Members that add up to a total (all keys of the same table)."""

    members: tuple[K, ...]
    total: K


def suppress(
    values: Mapping[K, int],
    lines: Sequence[Line[K]],
    exempt: Callable[[K], bool],
    threshold: int,
) -> set[K]:
    """The keys to hide from this viewer.

    A work list over the lines, with a count of hidden members per line, so a national table of
    tens of thousands of cells is settled in near-linear time.
    """
    hidden = {k for k, v in values.items() if 0 < v < threshold and not exempt(k)}
    lines_of: dict[K, list[int]] = {}
    for index, line in enumerate(lines):
        for member in line.members:
            lines_of.setdefault(member, []).append(index)
        lines_of.setdefault(line.total, []).append(-1 - index)  # a total: its own line is settled
    hidden_count = [sum(1 for m in line.members if m in hidden) for line in lines]
    # Candidates for a second suppression, smallest first.
    candidates = [
        sorted((m for m in line.members if not exempt(m) and values.get(m, 0) > 0), key=lambda m: (values[m], str(m)))
        for line in lines
    ]
    work = [i for i, count in enumerate(hidden_count) if count == 1]

    def hide(key: K) -> None:
        hidden.add(key)
        for index in lines_of.get(key, ()):
            if index >= 0:
                hidden_count[index] += 1
                if hidden_count[index] == 1:
                    work.append(index)
            else:
                work.append(-1 - index)  # its line no longer needs a second member, nothing to do

    while work:
        index = work.pop()
        line = lines[index]
        if line.total in hidden or hidden_count[index] != 1:
            continue
        pick = next((m for m in candidates[index] if m not in hidden), None)
        if pick is not None:
            hide(pick)
        elif not exempt(line.total):
            hide(line.total)
    return hidden


def grid_lines(cell_keys: Iterable[tuple[str, str]]) -> list[Line[tuple[str, ...]]]:
    """Lines of a two-way table with row, column and grand totals (keys: ("cell", r, c), ("row", r),
    ("col", c), ("all",))."""
    rows: dict[str, list[tuple[str, ...]]] = {}
    cols: dict[str, list[tuple[str, ...]]] = {}
    for r, c in cell_keys:
        rows.setdefault(r, []).append(("cell", r, c))
        cols.setdefault(c, []).append(("cell", r, c))
    lines: list[Line[tuple[str, ...]]] = [Line(tuple(m), ("row", r)) for r, m in rows.items()]
    lines += [Line(tuple(m), ("col", c)) for c, m in cols.items()]
    lines.append(Line(tuple(("row", r) for r in rows), ("all",)))
    lines.append(Line(tuple(("col", c) for c in cols), ("all",)))
    return lines


def grid_values(cells: Mapping[tuple[str, str], int]) -> dict[tuple[str, ...], int]:
    values: dict[tuple[str, ...], int] = {}
    for (r, c), v in cells.items():
        values[("cell", r, c)] = v
        values[("row", r)] = values.get(("row", r), 0) + v
        values[("col", c)] = values.get(("col", c), 0) + v
        values[("all",)] = values.get(("all",), 0) + v
    values.setdefault(("all",), 0)
    return values
