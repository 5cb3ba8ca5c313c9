"""What an outsider can infer from published counts, knowing the method and its parameters (the ptable
is public, docs/privacy.md): the attack tests' model of the attacker."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lmx_common.disclosure import PTable

TABLE = PTable()  # the services' default parameters


def possible(count: Mapping[str, Any], table: PTable = TABLE) -> range:
    """Every true count a published count can stand for: itself when exact, its preimage otherwise."""
    value = int(count["count"])
    if count["exact"]:
        return range(value, value + 1)
    return table.preimage(value)


def omitted(table: PTable = TABLE) -> dict[str, Any]:
    """A cell left out of a list: published 0."""
    return {"count": 0, "exact": False}


def difference(plus: Iterable[Mapping[str, Any]], minus: Iterable[Mapping[str, Any]], table: PTable = TABLE) -> range:
    """The true values of sum(plus) - sum(minus) consistent with what was published, at least 0 (a
    count). Each published count stands for an interval of true counts, so the difference is one too."""
    low = high = 0
    for count in plus:
        r = possible(count, table)
        low, high = low + r.start, high + r.stop - 1
    for count in minus:
        r = possible(count, table)
        low, high = low - (r.stop - 1), high - r.start
    return range(max(low, 0), max(high, -1) + 1)


def assert_not_recovered(candidates: range, truth: int, table: PTable = TABLE) -> None:
    """The attack's target is consistent with the published figures (the model is right), and so is at
    least one other value: no count is recovered exactly."""
    assert truth in candidates, (truth, candidates)
    assert len(candidates) >= 2, (truth, candidates)
    assert 0 < truth < table.threshold  # the attacks aim at small counts
