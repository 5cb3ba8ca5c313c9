"""The generalisation of anonymised registrations: every class outside "held" has k or more members on
the quasi-identifiers, whatever the groups (services/registry/retention.py)."""

from __future__ import annotations

import itertools
import random
from datetime import date
from typing import Any

from services.registry import retention
from services.registry.retention import BROAD, COARSEST, HELD, MONTH, YEAR, assign_levels, classes, generalise

K = 5


def person(n: int, **values: Any) -> dict[str, Any]:
    row = {
        "id": f"r{n:05d}",
        "level": None,
        "status": "departed",
        "work_municipality_code": "GM1709",
        "residence_municipality_code": "GM1655",
        "nationality": "PL",
        "registration_type": "rni",
        "channel": "desk",
        "arrival_date": date(2023, 3, 14),
        "departure_date": date(2024, 6, 2),
        "departure_reason": "job-lost",
        "departure_destination_type": "abroad",
    }
    return row | values


def settle(rows: list[dict[str, Any]], k: int = K) -> dict[str, str]:
    """Assign levels and store each row's values at its level, as the job does."""
    levels = assign_levels(rows, k)
    for row in rows:
        row.update(generalise(row, levels[row["id"]]), level=levels[row["id"]])
    return levels


def assert_k_anonymous(rows: list[dict[str, Any]], levels: dict[str, str], k: int = K) -> None:
    sizes = classes(rows, levels)
    for row in rows:
        if levels[row["id"]] != HELD:
            assert sizes[retention._key(row, levels[row["id"]])] >= k, row
    # Held rows carry the coarsest values, and are alone or nearly so on them among the coarsest.
    for row in rows:
        if levels[row["id"]] == HELD:
            assert {n: row[n] for n in retention.QUASI_IDENTIFIERS} == generalise(row, COARSEST)
            assert sizes[retention._key(row, HELD)] < k


def test_a_crowd_keeps_its_months_and_a_tiny_group_is_generalised_until_it_hides():
    crowd = [person(i, arrival_date=date(2023, 3, 1 + i)) for i in range(5)]  # same month
    # Adversarial: one rare nationality, one rare type, the same dates: unique on month and year,
    # hidden once nationality and type go.
    rare = [person(10, nationality="IS"), person(11, registration_type="none")]
    # Another month of the same year: four of them, plus the rare two, make a class at year level?
    # No: the rare two differ in nationality/type, so they join at "broad".
    others = [person(20 + i, arrival_date=date(2023, 7, 9)) for i in range(4)]
    rows = crowd + rare + others
    levels = settle(rows)
    assert_k_anonymous(rows, levels)
    assert {levels[r["id"]] for r in crowd} == {MONTH}
    assert {levels[r["id"]] for r in rare + others} == {BROAD}
    assert all(r["nationality"] is None for r in rare + others)
    assert {r["arrival_date"] for r in crowd} == {date(2023, 3, 1)}


def test_someone_alone_in_their_municipality_is_held_at_the_coarsest_values():
    rows = [person(i) for i in range(5)] + [person(99, residence_municipality_code="GM0080")]
    levels = settle(rows)
    assert_k_anonymous(rows, levels)
    lonely = rows[-1]
    assert levels[lonely["id"]] == HELD
    assert lonely["departure_reason"] == "unknown" and lonely["arrival_date"] == date(2023, 1, 1)
    # Four more of its kind later: the five make a class, no longer held.
    later = [person(100 + i, residence_municipality_code="GM0080", nationality="RO") for i in range(4)]
    rows += later
    levels = settle(rows)
    assert_k_anonymous(rows, levels)
    assert levels[lonely["id"]] == COARSEST


def test_values_only_get_coarser_and_classes_never_shrink_across_runs():
    rng = random.Random(12)
    rows: list[dict[str, Any]] = []
    seen_levels: dict[str, str] = {}
    order = (MONTH, YEAR, BROAD, COARSEST)
    for batch in range(6):
        for n in range(rng.randrange(1, 40)):
            rows.append(
                person(
                    batch * 100 + n,
                    status=rng.choice(["departed", "departed", "active"]),
                    residence_municipality_code=rng.choice(["GM1655", "GM0080", "GM0758"]),
                    work_municipality_code=rng.choice(["GM1709", "GM1655"]),
                    nationality=rng.choice(["PL", "PL", "RO", "BG", "IS", None]),
                    registration_type=rng.choice(["rni", "rni", "brp-resident", "none"]),
                    channel=rng.choice(["desk", "digital"]),
                    arrival_date=date(2022 + rng.randrange(2), rng.randrange(1, 13), rng.randrange(1, 28)),
                    departure_date=date(2024, rng.randrange(1, 13), 1),
                    departure_reason=rng.choice(["job-lost", "contract-ended", "returned-home"]),
                    departure_destination_type=rng.choice(["abroad", "unknown"]),
                )
            )
            if rows[-1]["status"] == "active":
                rows[-1].update(departure_date=None, departure_reason=None, departure_destination_type=None)
        levels = settle(rows)
        assert_k_anonymous(rows, levels)
        for row_id, level in seen_levels.items():
            now = levels[row_id]
            assert (COARSEST if now == HELD else now) in order[order.index(COARSEST if level == HELD else level) :]
        seen_levels = dict(levels)


def test_every_combination_of_tiny_groups_with_k_from_two_to_six():
    # Exhaustive over small adversarial populations: 1..4 people in each of three cells.
    cells: list[dict[str, Any]] = [
        {"nationality": "IS"},
        {"residence_municipality_code": "GM0080"},
        {"arrival_date": date(2021, 12, 31)},
    ]
    for k in range(2, 7):
        for sizes in itertools.product(range(0, 5), repeat=3):
            rows = [person(i) for i in range(k)]  # a crowd
            for cell, size in zip(cells, sizes, strict=True):
                rows += [person(len(rows) + j, **cell) for j in range(size)]
            levels = settle(rows, k)
            assert_k_anonymous(rows, levels, k)
