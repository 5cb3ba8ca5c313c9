"""The information the cell-key method costs (ADR 0027, docs/privacy.md), as an outsider sees it.

    .venv/bin/python bench/disclosure_loss.py [--registrations 1000000] [--seed 11]

On two data sets: the demo data (`lmx up`'s 3,000 registrations, services/registry/demo.py) and a
synthetic national one (the distribution of `make bench`: 30 % work in West-Brabant, 60 % live where
they work), each record with a random record key. For an outsider (no exact counts) it reports the
error of the national total, the provincial totals (province filter, grand total), the municipal
`working` counts, the work x residence cells, and the fair-share obligations of West-Brabant's
municipalities (published through the housing service's layer, against the exact computation).
Pure computation with the services' own functions: no stack, no database server.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lmx_common.disclosure import KEY_RANGE, PTable, new_record_key  # noqa: E402
from lmx_common.reference import municipalities, regions  # noqa: E402

Record = tuple[str, str, str | None, int]  # work, residence, economic location, record key


@dataclass
class Cells:
    """Count and key sum per cell."""

    values: dict[object, list[int]]

    @classmethod
    def of(cls, records: Iterable[Record], key: Callable[[Record], object]) -> Cells:
        values: dict[object, list[int]] = {}
        for record in records:
            cell = values.setdefault(key(record), [0, 0])
            cell[0] += 1
            cell[1] += record[3]
        return cls(values)

    def errors(self, table: PTable) -> list[tuple[int, int]]:
        """(true, published) per cell."""
        return [(n, table.published(n, k % KEY_RANGE)) for n, k in self.values.values()]


def summary(pairs: list[tuple[int, int]]) -> str:
    if not pairs:
        return "none"
    errors = [abs(p - n) for n, p in pairs]
    relative = [abs(p - n) / n for n, p in pairs if n >= 100]
    small = sum(1 for n, _ in pairs if 0 < n < 5)
    text = f"{len(pairs):,} figures: mean |error| {statistics.mean(errors):.2f}, max {max(errors)}"
    if relative:
        text += f"; relative (counts ≥ 100) mean {statistics.mean(relative):.3%}, max {max(relative):.3%}"
    if small:
        text += f"; {small:,} of 1–4 ({small / len(pairs):.0%}), published 0 or 5"  # noqa: RUF001
    return text


def synthetic(count: int, seed: int) -> list[Record]:
    rng = random.Random(seed)  # synthetic data; the record keys come from new_record_key
    codes = sorted(municipalities())
    west_brabant = sorted(regions()["west-brabant"].municipality_codes)
    locations = economic_locations()
    records = []
    for _ in range(count):
        work = rng.choice(west_brabant) if rng.random() < 0.3 else rng.choice(codes)
        home = work if rng.random() < 0.6 else rng.choice(codes)
        location = locations.get(work) if rng.random() < 0.5 else None
        records.append((work, home, location, new_record_key()))
    return records


def economic_locations() -> dict[str, str]:
    from services.registry.demo import ECONOMIC_LOCATIONS

    return dict(ECONOMIC_LOCATIONS)


def demo() -> list[Record]:
    """The demo registrations, as `lmx up` loads them (active ones), with their record keys."""
    from sqlalchemy import text

    from lmx_common.db import Database
    from lmx_common.migrations import upgrade
    from services.registry.demo import load_demo

    async def load(url: str) -> list[Record]:
        database = Database(url)
        try:
            async with database.sessionmaker() as session, session.begin():
                await load_demo(session)
            async with database.sessionmaker() as session:
                result = await session.execute(
                    text(
                        "SELECT work_municipality_code, residence_municipality_code, economic_location_id, "
                        "record_key FROM registrations WHERE status = 'active'"
                    )
                )
                return [(w, r, e, int(k)) for w, r, e, k in result.all()]
        finally:
            await database.dispose()

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/registry.db"
        upgrade("registry", url)
        return asyncio.run(load(url))


def report(label: str, records: list[Record], table: PTable) -> list[str]:
    refs = municipalities()
    lines = [f"### {label}: {len(records):,} active registrations", ""]
    national = Cells.of(records, lambda r: "all").errors(table)
    lines.append(f"- national total: {summary(national)}")
    provinces = Cells.of(records, lambda r: refs[r[0]].province_code).errors(table)
    lines.append(f"- provincial totals (working, province filter): {summary(provinces)}")
    working = Cells.of(records, lambda r: r[0]).errors(table)
    lines.append(f"- municipal `working`: {summary(working)}")
    cells = Cells.of(records, lambda r: (r[0], r[1])).errors(table)
    lines.append(f"- work × residence cells: {summary(cells)}")  # noqa: RUF001
    lines.extend(fair_share_lines(records, table))
    return [*lines, ""]


def fair_share_lines(records: list[Record], table: PTable) -> list[str]:
    """West-Brabant's fair share with the housing demo's distribution keys: the obligations an outsider
    gets (services/housing/fair_share.publish) against the exact computation (compute)."""
    from lmx_common.disclosure import Disclosure
    from services.housing.demo import ECONOMIC_LOCATIONS as KEYED
    from services.housing.fair_share import CellKeys, MemberInput, compute, publish

    members = sorted(regions()["west-brabant"].municipality_codes)
    shares = {location: keys for location, _, _, keys in KEYED}
    working = Cells.of((r for r in records if r[0] in members), lambda r: r[0]).values
    located = Cells.of((r for r in records if r[2] in shares), lambda r: (r[2], r[0])).values
    inputs = [MemberInput(m, m, working.get(m, [0, 0])[0], operational_beds=0) for m in members]
    at_locations: dict[str, dict[str, int]] = {}
    at_keys: dict[str, dict[str, int]] = {}
    for cell, (n, key) in located.items():
        assert isinstance(cell, tuple)
        location, work = str(cell[0]), str(cell[1])
        at_locations.setdefault(location, {})[work] = n
        at_keys.setdefault(location, {})[work] = key % KEY_RANGE
    keys = CellKeys({m: working.get(m, [0, 0])[1] % KEY_RANGE for m in members}, at_keys)
    exact = compute(inputs, at_locations, shares, 0.8)
    shown = publish(exact, inputs, shares, keys, Disclosure(table), 0.8)
    rows = [(row.obligation, published.obligation) for row, published in zip(exact.members, shown.members, strict=True)]
    errors = [abs(p - n) for n, p in rows]
    relative = [abs(p - n) / n for n, p in rows if n >= 100]
    text = f"{len(rows)} obligations: mean |error| {statistics.mean(errors):.2f}, max {max(errors):.2f}"
    if relative:
        text += f"; relative (obligations ≥ 100) mean {statistics.mean(relative):.3%}, max {max(relative):.3%}"
    pools = [(exact.pools[e], shown.pools[e][0]) for e in shares]
    return [
        f"- West-Brabant fair share (outsider): {text}",
        f"- West-Brabant pools: {summary(pools)}; region obligation {exact.obligation:,.0f} published as "
        f"{shown.obligation:,}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registrations", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    table = PTable()
    lines = [
        f"## Information loss of the cell-key method (threshold {table.threshold}, maximum deviation "
        f"{table.max_deviation}, variance {table.variance})",
        "",
    ]
    lines += report("Demo data", demo(), table)
    lines += report("Synthetic national data", synthetic(args.registrations, args.seed), table)
    text = "\n".join(lines)
    out = ROOT / "bench" / "results" / "disclosure-loss.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
