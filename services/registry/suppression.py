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
    """The keys to hide from this viewer."""
    hidden = {k for k, v in values.items() if 0 < v < threshold and not exempt(k)}
    changed = True
    while changed:
        changed = False
        for line in lines:
            if line.total in hidden:
                continue
            hidden_members = [m for m in line.members if m in hidden]
            if len(hidden_members) != 1:
                continue
            candidates = [m for m in line.members if m not in hidden and not exempt(m) and values.get(m, 0) > 0]
            if candidates:
                hidden.add(min(candidates, key=lambda m: (values[m], str(m))))
                changed = True
            elif not exempt(line.total):
                hidden.add(line.total)
                changed = True
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
