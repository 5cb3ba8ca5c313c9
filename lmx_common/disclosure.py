"""Statistical disclosure control: every published count goes through here (ADR 0027, docs/privacy.md).

The cell-key method (ABS TableBuilder, ONS Census 2021, Eurostat/CBS `cellKey`/`ptable`):

- every record carries a **record key**, a random 32-bit number fixed when the record is created and
  never shown;
- a cell's **cell key** is the sum of the record keys of the records it counts, modulo 2^32, so the same
  set of records always has the same cell key, whichever table, filter or endpoint it appears in, and
  the key of a union of disjoint cells (or of a cell minus a sub-cell) follows from theirs;
- a fixed **perturbation table** (ptable) maps (true count, cell key) to the published count.

So the same cell always gets the same answer (repetition averages nothing away), and a difference of
two published counts is the difference of the true counts plus the difference of two independent
perturbations: noise, not people. The ptable never publishes a count of 1..threshold-1: small counts
are rounded at random, without bias, to 0 or to the threshold; larger counts move by at most
``max_deviation`` with a symmetric distribution of mean 0 (folded up at the threshold, so a count just
above it is slightly biased upwards).

The party a count concerns sees it exactly (its own municipality's cells), as does a client that may
see the persons behind it; both are decided by the caller of :meth:`Disclosure.count`.
"""

from __future__ import annotations

import math
import re
import secrets
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import ColumnElement, case, literal

from lmx_common.schemas import CamelModel

KEY_BITS = 32
KEY_RANGE = 1 << KEY_BITS
METHOD = "cell-key"
DEFAULT_THRESHOLD = 5
DEFAULT_MAX_DEVIATION = 2
DEFAULT_VARIANCE = 1.0


def new_record_key() -> int:
    """A record key: uniform in [0, 2^32), from the operating system's CSPRNG."""
    return secrets.randbelow(KEY_RANGE)


def cell_key(record_keys: Iterable[int]) -> int:
    """The key of the cell that counts exactly these records (also: of a union of disjoint cells)."""
    return sum(record_keys) % KEY_RANGE


def key_difference(whole: int, part: int) -> int:
    """The key of the records of ``whole`` that are not in ``part`` (``part`` a subset of ``whole``)."""
    return (whole - part) % KEY_RANGE


def _base_distribution(max_deviation: int, variance: float) -> dict[int, float]:
    """The maximum-entropy distribution on -D..D with mean 0 and the given variance:
    p(d) proportional to exp(-lambda * d^2), lambda found by bisection."""
    deviations = range(-max_deviation, max_deviation + 1)
    uniform = sum(d * d for d in deviations) / len(deviations)
    if max_deviation < 1 or not 0 < variance < uniform:
        raise ValueError(f"variance must lie in (0, {uniform}) for max_deviation {max_deviation}")

    def distribution(lam: float) -> dict[int, float]:
        weights = {d: math.exp(-lam * d * d) for d in deviations}
        total = sum(weights.values())
        return {d: w / total for d, w in weights.items()}

    low, high = 0.0, 50.0  # variance falls from the uniform one (lambda 0) towards 0
    for _ in range(100):
        mid = (low + high) / 2
        if sum(p * d * d for d, p in distribution(mid).items()) > variance:
            low = mid
        else:
            high = mid
    return distribution((low + high) / 2)


@dataclass(frozen=True)
class PTable:
    """The perturbation table: for a true count, the published values and their probabilities."""

    threshold: int = DEFAULT_THRESHOLD
    max_deviation: int = DEFAULT_MAX_DEVIATION
    variance: float = DEFAULT_VARIANCE
    _base: dict[int, float] = field(init=False, repr=False, compare=False)
    # Lookup tables (values, cell-key bounds between them): one per count below the common rows, and
    # the common row of large counts as deviations. Built once: a national table looks up ~100,000 cells.
    _small: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...] = field(init=False, repr=False, compare=False)
    _large: tuple[tuple[int, ...], tuple[int, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.threshold < 1:
            raise ValueError("threshold must be at least 1")
        object.__setattr__(self, "_base", _base_distribution(self.max_deviation, self.variance))
        cut = self.threshold + self.max_deviation
        object.__setattr__(self, "_small", tuple(_cumulative(self.row(n)) for n in range(cut)))
        object.__setattr__(self, "_large", _cumulative(self._base))

    def row(self, n: int) -> dict[int, float]:
        """Published value -> probability, for a true count n (n >= 0)."""
        if n < 0:
            raise ValueError("a count is not negative")
        if n == 0:
            return {0: 1.0}
        t = self.threshold
        if n < t:  # unbiased random rounding to 0 or to the threshold
            return {0: 1 - n / t, t: n / t}
        published: dict[int, float] = {}
        for d, p in self._base.items():
            value = max(n + d, t)  # folded up at the threshold: never 1..t-1
            published[value] = published.get(value, 0.0) + p
        return published

    def published(self, n: int, key: int) -> int:
        """The published value of a cell with true count n and cell key ``key`` (0 <= key < 2^32)."""
        small = self._small
        if n < len(small):
            values, bounds = small[n]
            return values[bisect_right(bounds, key)]
        deviations, bounds = self._large  # rows look alike up here: deviations from n
        return n + deviations[bisect_right(bounds, key)]

    def sql(self, n: Any, key: Any) -> ColumnElement[Any]:
        """The same lookup as :meth:`published`, as an SQL expression over a count and a cell key
        (already reduced mod 2^32), so a national table is perturbed where its cells are counted."""

        def pick(values: tuple[int, ...], bounds: tuple[int, ...]) -> ColumnElement[Any]:
            if not bounds:
                return literal(values[0])
            return case(
                *((key < b, literal(v)) for v, b in zip(values, bounds, strict=False)), else_=literal(values[-1])
            )

        deviations, bounds = self._large
        large = n + pick(deviations, bounds)
        return case(*((n == i, pick(*row)) for i, row in enumerate(self._small)), else_=large)

    def preimage(self, value: int) -> range:
        """Every true count that can be published as ``value`` (what an outsider can infer from it)."""
        if value < 0 or 0 < value < self.threshold:
            return range(0)
        if value == 0:
            return range(0, self.threshold)
        low = 1 if value == self.threshold else max(self.threshold, value - self.max_deviation)
        return range(low, value + self.max_deviation + 1)

    def expected_absolute_error(self, n: int) -> float:
        return sum(p * abs(v - n) for v, p in self.row(n).items())


@lru_cache(maxsize=16)
def ptable(
    threshold: int = DEFAULT_THRESHOLD, max_deviation: int = DEFAULT_MAX_DEVIATION, variance: float = DEFAULT_VARIANCE
) -> PTable:
    """The ptable for these parameters, built once."""
    return PTable(threshold, max_deviation, variance)


def _cumulative(row: dict[int, float]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Values and the cell-key bounds between them: a key below bounds[i] publishes values[i]."""
    values, bounds, running = [], [], 0.0
    for value, p in sorted(row.items()):
        running += p
        values.append(value)
        bounds.append(min(KEY_RANGE, round(running * KEY_RANGE)))
    return tuple(values), tuple(bounds[:-1])


class DisclosureSettings(BaseModel):
    """Mixin for a service's settings: the ptable's parameters (``<P>_DISCLOSURE_THRESHOLD``,
    ``_MAX_DEVIATION``, ``_VARIANCE``). Every service that publishes counts must use the same values:
    the housing service derives its figures from the registry's cells and perturbs them like the
    registry (docs/privacy.md)."""

    disclosure_threshold: int = Field(default=DEFAULT_THRESHOLD, ge=1)
    disclosure_max_deviation: int = Field(default=DEFAULT_MAX_DEVIATION, ge=1)
    disclosure_variance: float = Field(default=DEFAULT_VARIANCE, gt=0)

    @model_validator(mode="after")
    def _valid_ptable(self) -> DisclosureSettings:
        self.ptable()  # a ValueError here names the parameter out of range
        return self

    def ptable(self) -> PTable:
        return ptable(self.disclosure_threshold, self.disclosure_max_deviation, self.disclosure_variance)


class DisclosureControl(CamelModel):
    """How the counts of this answer were published (docs/privacy.md)."""

    method: str = Field(description="`cell-key`: counts the caller may not see exactly are perturbed.")
    threshold: int = Field(description="No perturbed count lies between 1 and threshold - 1.")
    maximum_deviation: int = Field(
        description="A perturbed count of at least the threshold differs from the true count by at most this."
    )


class DisclosedCount(CamelModel):
    """A published count: exact for the party it concerns, perturbed (cell-key method) for others."""

    count: int = Field(ge=0, description="The count as published to this caller.")
    exact: bool = Field(
        description="true: the true count (the caller's own cell, or a caller that may see the persons); "
        "false: perturbed by the cell-key method (docs/privacy.md)."
    )
    cell_key: int | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        ge=0,
        lt=KEY_RANGE,
        description="Only for clients that re-publish counts themselves (scope registry:statistics-exact): "
        "the cell key, so that their figures are perturbed consistently.",
    )


@dataclass(frozen=True)
class Disclosure:
    """One caller's view: which counts it sees exactly, and the ptable for the rest.

    ``viewer``: the municipality whose own cells the caller sees exactly (or None); ``exact``: the
    caller sees every count exactly; ``with_keys``: answers carry cell keys (a re-publishing client).
    """

    ptable: PTable
    viewer: str | None = None
    exact: bool = False
    with_keys: bool = False

    @property
    def control(self) -> DisclosureControl:
        return DisclosureControl(
            method=METHOD, threshold=self.ptable.threshold, maximum_deviation=self.ptable.max_deviation
        )

    def sees(self, concerns: str | Iterable[str] | None) -> bool:
        """Whether a count about these municipalities is published exactly to this caller."""
        if self.exact:
            return True
        if self.viewer is None or concerns is None:
            return False
        if isinstance(concerns, str):
            return concerns == self.viewer
        return self.viewer in concerns

    def value(self, n: int, key: int, concerns: str | Iterable[str] | None = None) -> tuple[int, bool]:
        """(published count, exact?) of a cell with true count n and cell key ``key``."""
        if self.sees(concerns):
            return n, True
        return self.ptable.published(n, key), False

    def count(self, n: int, key: int, concerns: str | Iterable[str] | None = None) -> DisclosedCount:
        value, exact = self.value(n, key, concerns)
        return DisclosedCount(count=value, exact=exact, cell_key=key % KEY_RANGE if self.with_keys else None)

    def split_value(self, n: int, key: int, own_n: int = 0, own_key: int = 0) -> tuple[int, bool]:
        """(published count, exact?) of a cell of n records (key ``key``) of which own_n (key ``own_key``)
        are the caller's own, i.e. records it may see at person level.

        The caller's own part is exact; the rest is perturbed with the key of the rest alone. So a party
        that adds, changes or removes records of its own (it can: it registers them) never draws a new
        perturbation of the others' part: it cannot average it away (the attack of docs/privacy.md)."""
        if self.exact:
            return n, True
        if n > 0 and own_n >= n:
            return n, True
        # An empty cell is no one's own: "exact 0" would tell that nobody is there, where a perturbed 0
        # stands for 0..threshold-1.
        return self.ptable.published(n - own_n, (key - own_key) % KEY_RANGE) + own_n, False

    def split_count(self, n: int, key: int, own_n: int = 0, own_key: int = 0) -> DisclosedCount:
        value, exact = self.split_value(n, key, own_n, own_key)
        return DisclosedCount(count=value, exact=exact, cell_key=key % KEY_RANGE if self.with_keys else None)


# Fixed calendar periods: an outsider can ask for a month, a quarter or a year, never free boundaries
# (a period one day shorter than another would give that day's count by subtraction).

PERIOD_PATTERN = r"^[0-9]{4}(-(0[1-9]|1[0-2]|Q[1-4]))?$"
_PERIOD = re.compile(PERIOD_PATTERN)


@dataclass(frozen=True)
class CalendarPeriod:
    """A calendar year (``2026``), quarter (``2026-Q3``) or month (``2026-07``)."""

    name: str
    start: date
    end: date  # inclusive

    @classmethod
    def parse(cls, text: str) -> CalendarPeriod:
        if not _PERIOD.match(text):
            raise ValueError("a year (2026), a quarter (2026-Q3) or a month (2026-07)")
        year = int(text[:4])
        if year < 1900:
            raise ValueError("a year from 1900")
        if len(text) == 4:
            return cls(text, date(year, 1, 1), date(year, 12, 31))
        if text[5] == "Q":
            quarter = int(text[6])
            first = 3 * (quarter - 1) + 1
            return cls(text, date(year, first, 1), _month_end(year, first + 2))
        month = int(text[5:7])
        return cls(text, date(year, month, 1), _month_end(year, month))

    @classmethod
    def current_year(cls, today: date) -> CalendarPeriod:
        return cls.parse(f"{today.year:04d}")


def _month_end(year: int, month: int) -> date:
    first_next = date(year + (month == 12), month % 12 + 1, 1)
    return first_next - timedelta(days=1)
