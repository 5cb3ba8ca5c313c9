"""The cell-key method's ptable and keys (lmx_common/disclosure.py, ADR 0027)."""

from __future__ import annotations

from datetime import date

import pytest

from lmx_common.disclosure import (
    KEY_RANGE,
    CalendarPeriod,
    Disclosure,
    PTable,
    cell_key,
    key_difference,
)

TABLE = PTable()
# Evenly spread cell keys: the share of keys that publish a value is that value's probability.
KEYS = [int((i + 0.5) * KEY_RANGE / 20_000) for i in range(20_000)]


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 100, 1_000_000])
def test_a_row_is_a_distribution_that_never_publishes_a_small_count(n: int) -> None:
    row = TABLE.row(n)
    assert sum(row.values()) == pytest.approx(1.0)
    assert all(not 0 < v < TABLE.threshold for v in row)
    if n >= TABLE.threshold:
        assert all(abs(v - n) <= TABLE.max_deviation for v in row)
    elif n > 0:
        assert set(row) == {0, TABLE.threshold}


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 8, 50, 10_000])
def test_the_perturbation_has_mean_zero_below_the_threshold_and_away_from_it(n: int) -> None:
    mean = sum(v * p for v, p in TABLE.row(n).items())
    assert mean == pytest.approx(n)


def test_counts_just_above_the_threshold_are_folded_up_and_slightly_biased() -> None:
    assert sum(v * p for v, p in TABLE.row(5).items()) > 5
    assert min(TABLE.row(5)) == 5 and max(TABLE.row(5)) == 7


def test_the_variance_of_large_counts_is_the_parameter() -> None:
    row = TABLE.row(1000)
    assert sum(p * (v - 1000) ** 2 for v, p in row.items()) == pytest.approx(TABLE.variance, abs=1e-6)


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 6, 9, 250])
def test_published_values_follow_the_row_over_the_cell_keys(n: int) -> None:
    published = [TABLE.published(n, k) for k in KEYS]
    for value, p in TABLE.row(n).items():
        assert published.count(value) / len(KEYS) == pytest.approx(p, abs=0.001)
    assert set(published) <= set(TABLE.row(n))


def test_the_same_cell_always_gets_the_same_answer() -> None:
    assert [TABLE.published(17, k) for k in KEYS[:500]] == [TABLE.published(17, k) for k in KEYS[:500]]
    assert TABLE.published(3, 0) in (0, 5) and TABLE.published(3, KEY_RANGE - 1) in (0, 5)


def test_the_preimage_is_exactly_the_counts_that_can_publish_a_value() -> None:
    for value in range(0, 40):
        can = {n for n in range(0, 60) if value in TABLE.row(n)}
        assert set(TABLE.preimage(value)) == can, value


def test_cell_keys_add_over_disjoint_cells_and_subtract_for_a_part() -> None:
    a, b = [KEY_RANGE - 1, 12345], [KEY_RANGE - 7]
    assert cell_key(a + b) == (cell_key(a) + cell_key(b)) % KEY_RANGE
    assert key_difference(cell_key(a + b), cell_key(b)) == cell_key(a)
    assert 0 <= cell_key(a + b) < KEY_RANGE


def test_the_viewer_sees_its_own_cells_exactly_and_others_perturbed() -> None:
    view = Disclosure(TABLE, viewer="GM0758")
    key = next(k for k in KEYS if TABLE.published(3, k) != 3)
    assert view.value(3, key, "GM0758") == (3, True)
    assert view.value(3, key, ["GM0777", "GM0758"]) == (3, True)
    assert view.value(3, key, "GM0777") == (TABLE.published(3, key), False)
    assert view.value(3, key, None) == (TABLE.published(3, key), False)
    assert Disclosure(TABLE, exact=True).value(3, key, None) == (3, True)
    assert view.count(3, key, "GM0777").cell_key is None
    assert Disclosure(TABLE, exact=True, with_keys=True).count(3, key).cell_key == key


def test_parameters_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError):
        PTable(max_deviation=2, variance=2.5)
    with pytest.raises(ValueError):
        PTable(threshold=0)
    with pytest.raises(ValueError):
        TABLE.row(-1)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026", date(2026, 1, 1), date(2026, 12, 31)),
        ("2026-Q1", date(2026, 1, 1), date(2026, 3, 31)),
        ("2024-Q4", date(2024, 10, 1), date(2024, 12, 31)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        ("2026-12", date(2026, 12, 1), date(2026, 12, 31)),
    ],
)
def test_calendar_periods(text: str, start: date, end: date) -> None:
    period = CalendarPeriod.parse(text)
    assert (period.start, period.end, period.name) == (start, end, text)


@pytest.mark.parametrize("text", ["2026-13", "2026-Q5", "2026-00", "26", "2026-01-01", "2026-q1", "1800"])
def test_free_or_malformed_periods_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        CalendarPeriod.parse(text)


def test_a_callers_own_records_are_an_exact_part_and_the_rest_keeps_its_own_draw() -> None:
    view = Disclosure(TABLE)
    rest_key = next(k for k in KEYS if TABLE.published(3, k) == 5)
    for own_n, own_key in ((0, 0), (4, 123), (40, KEY_RANGE - 9)):
        # However many records of its own the caller adds, the others' part is the same draw.
        assert view.split_value(3 + own_n, (rest_key + own_key) % KEY_RANGE, own_n, own_key) == (5 + own_n, False)
    assert view.split_value(7, 99, 7, 99) == (7, True)
    assert view.split_value(0, 0, 0, 0) == (0, False)  # an empty cell is not "exactly nobody"
    assert Disclosure(TABLE, exact=True).split_value(0, 0) == (0, True)


def test_the_sql_lookup_publishes_what_published_does() -> None:
    """PTable.sql is the same table as PTable.published, evaluated by the database (SQLite here; the
    statistics tests run it on PostgreSQL too)."""
    import sqlite3

    from sqlalchemy import Integer, column, create_engine, select, table

    counts = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 50, 1000]
    rows = [(n, k) for n in counts for k in KEYS[::400]]
    engine = create_engine("sqlite://", module=sqlite3)
    n, k = column("n", Integer), column("k", Integer)
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE cells (n INTEGER, k INTEGER)")
        conn.exec_driver_sql("INSERT INTO cells VALUES (?, ?)", rows)
        query = select(n, k, TABLE.sql(n, k)).select_from(table("cells"))
        got = [(a, b, c) for a, b, c in conn.execute(query)]
    assert got == [(a, b, TABLE.published(a, b)) for a, b in rows]
