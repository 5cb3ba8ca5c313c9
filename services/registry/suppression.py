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
from operator import itemgetter
from typing import Any, Generic, Protocol, TypeVar


class Key(Hashable, Protocol):
    def __lt__(self, other: Any, /) -> bool: ...


K = TypeVar("K", bound=Key)


@dataclass(frozen=True)
class Line(Generic[K]):
    """Members that add up to a total (all keys of the same table)."""

    members: tuple[K, ...]
    total: K


def is_small(value: int, threshold: int) -> bool:
    """The primary rule: a count of 1..threshold-1 is too small to publish (to a viewer not entitled
    to it)."""
    return 0 < value < threshold


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
    hidden = {k for k, v in values.items() if is_small(v, threshold) and not exempt(k)}
    lines_of: dict[K, list[int]] = {}
    for index, line in enumerate(lines):
        for member in line.members:
            lines_of.setdefault(member, []).append(index)
    hidden_count = [sum(1 for m in line.members if m in hidden) for line in lines]
    # Candidates for a second suppression, smallest first; sorted only for the lines that need one.
    candidates: dict[int, list[K]] = {}
    work = [i for i, count in enumerate(hidden_count) if count == 1]

    def hide(key: K) -> None:
        hidden.add(key)
        for index in lines_of.get(key, ()):
            hidden_count[index] += 1
            if hidden_count[index] == 1:
                work.append(index)

    while work:
        index = work.pop()
        line = lines[index]
        if line.total in hidden or hidden_count[index] != 1:
            continue
        if index not in candidates:
            candidates[index] = sorted(
                (m for m in line.members if values.get(m, 0) > 0 and not exempt(m)), key=lambda m: (values[m], m)
            )
        pick = next((m for m in candidates[index] if m not in hidden), None)
        if pick is not None:
            hide(pick)
        elif not exempt(line.total):
            hide(line.total)
    return hidden


def grid_lines(cell_keys: Iterable[tuple[str, str]]) -> list[Line[tuple[str, ...]]]:
    """Lines of a two-way table with row, column and grand totals (keys: ("cell", r, c), ("row", r),
    ("col", c), ("all",)), rows and columns in code order."""
    rows: dict[str, list[tuple[str, ...]]] = {}
    cols: dict[str, list[tuple[str, ...]]] = {}
    for r, c in cell_keys:
        rows.setdefault(r, []).append(("cell", r, c))
        cols.setdefault(c, []).append(("cell", r, c))
    rows, cols = dict(sorted(rows.items())), dict(sorted(cols.items()))
    lines: list[Line[tuple[str, ...]]] = [Line(tuple(sorted(m)), ("row", r)) for r, m in rows.items()]
    lines += [Line(tuple(sorted(m)), ("col", c)) for c, m in cols.items()]
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


Figure = tuple[str, int, bool]  # code, count, hidden


@dataclass(frozen=True)
class SuppressedGrid:
    cells: list[tuple[str, str, int]]  # (row, column, count), sorted
    hidden: bytearray  # hidden[i] == 1: cells[i] is suppressed
    rows: list[Figure]  # row totals, sorted by code
    cols: list[Figure]  # column totals, sorted by code
    total: tuple[int, bool]


def suppress_grid(
    cells: Iterable[tuple[str, str, int]], threshold: int, viewer: str | None = None, exact: bool = False
) -> SuppressedGrid:
    """A two-way table (row, column, count) with row, column and grand totals, suppressed for a viewer.

    The same rules, and the same outcome, as `suppress` over `grid_lines` (the viewer's own row and
    column, and the cells that concern it, are exempt), on arrays: a national cross-table of 100,000
    cells is settled in a fraction of the time string keys take.

    Keys: cells 0..n-1 in (row, column) order, then the row totals, the column totals and the grand
    total. Lines: each row, each column, the grand total over the rows and over the columns.
    """
    ordered = sorted(cells)  # linear when the query already sorted them
    n = len(ordered)
    counts = list(map(itemgetter(2), ordered))
    row_codes = list(dict.fromkeys(map(itemgetter(0), ordered)))  # in order: cells are sorted by row
    col_codes = sorted(set(map(itemgetter(1), ordered)))
    n_rows, n_cols = len(row_codes), len(col_codes)
    row_index = {code: i for i, code in enumerate(row_codes)}
    col_index = {code: i for i, code in enumerate(col_codes)}
    row_of = list(map(row_index.__getitem__, map(itemgetter(0), ordered)))
    col_of = list(map(col_index.__getitem__, map(itemgetter(1), ordered)))
    # A row's cells are a run of keys; a column's, its keys in a stable sort by column.
    row_starts = [0] * (n_rows + 1)
    for r in row_of:
        row_starts[r + 1] += 1
    for r in range(n_rows):
        row_starts[r + 1] += row_starts[r]
    by_col = sorted(range(n), key=col_of.__getitem__)
    col_starts = [0] * (n_cols + 1)
    for c in col_of:
        col_starts[c + 1] += 1
    for c in range(n_cols):
        col_starts[c + 1] += col_starts[c]
    members: list[Sequence[int]] = [range(row_starts[r], row_starts[r + 1]) for r in range(n_rows)]
    members += [by_col[col_starts[c] : col_starts[c + 1]] for c in range(n_cols)]
    values = counts + [sum(map(counts.__getitem__, line)) for line in members] + [sum(counts)]
    grand = n + n_rows + n_cols
    hidden = bytearray(grand + 1)
    if not exact:
        exempt = bytearray(grand + 1)
        own = [row_index[viewer]] if viewer is not None and viewer in row_index else []
        own += [n_rows + col_index[viewer]] if viewer is not None and viewer in col_index else []
        for line in own:  # the viewer's own row and column: their total and every cell in them
            exempt[n + line] = 1
            for key in members[line]:
                exempt[key] = 1
        members.append(range(n, n + n_rows))
        members.append(range(n + n_rows, grand))
        _settle(values, hidden, exempt, members, row_of, col_of, n_rows, threshold)
    return SuppressedGrid(
        cells=ordered,
        hidden=hidden[:n],
        rows=[(code, values[n + i], hidden[n + i] == 1) for i, code in enumerate(row_codes)],
        cols=[(code, values[n + n_rows + i], hidden[n + n_rows + i] == 1) for i, code in enumerate(col_codes)],
        total=(values[grand], hidden[grand] == 1),
    )


def _settle(
    values: list[int],
    hidden: bytearray,
    exempt: bytearray,
    members: list[Sequence[int]],
    row_of: list[int],
    col_of: list[int],
    n_rows: int,
    threshold: int,
) -> None:
    """`suppress` for a grid, on arrays: the lines a key belongs to follow from its position."""
    n, grand = len(row_of), len(values) - 1
    n_lines = len(members)  # rows, columns, the grand total over rows, over columns
    all_rows, all_cols = n_lines - 2, n_lines - 1
    totals = [n + line for line in range(n_lines - 2)] + [grand, grand]
    for key, v in enumerate(values):  # is_small, inline: up to ~200,000 keys
        if 0 < v < threshold and not exempt[key]:
            hidden[key] = 1
    count = [sum(map(hidden.__getitem__, line)) for line in members]
    work = [line for line, c in enumerate(count) if c == 1]

    def lines_of(key: int) -> tuple[int, ...]:
        if key < n:
            return (row_of[key], n_rows + col_of[key])
        if key < n + n_rows:
            return (all_rows,)
        if key < grand:
            return (all_cols,)
        return ()

    def hide(key: int) -> None:
        hidden[key] = 1
        for line in lines_of(key):
            count[line] += 1
            if count[line] == 1:
                work.append(line)

    while work:
        line = work.pop()
        if hidden[totals[line]] or count[line] != 1:
            continue
        pick = min(
            ((values[m], m) for m in members[line] if values[m] > 0 and not exempt[m] and not hidden[m]),
            default=None,
        )
        if pick is not None:
            hide(pick[1])
        elif not exempt[totals[line]]:
            hide(totals[line])
