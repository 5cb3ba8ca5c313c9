"""The bulk body's limits while it streams in (services/registry/bulk.py: LineCounter, read_body).

The count is the body's lines (blank ones included), does not depend on how the body is cut into
chunks, is never below what parse yields (so the limit holds for what is imported), and read_body
stops pulling chunks at the first line or byte too many. The API tests are in
tests/api/test_registry_bulk_limits.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmx_common.problems import ProblemError
from services.registry import bulk

NDJSON = "application/x-ndjson"
CSV = "text/csv"
# Pieces a body is made of: content, every kind of ASCII whitespace, line ends of both kinds.
PIECES = st.sampled_from([b"a", b"{}", b"1", b" ", b"\t", b"\r", b"\x0b", b"\x0c", b"\n", b"\r\n", b"\n\n", b"\n \n"])


def count(body: bytes, cuts: list[int]) -> int:
    counter = bulk.LineCounter()
    start = 0
    for cut in [*sorted({c for c in cuts if 0 < c < len(body)}), len(body)]:
        counter.feed(body[start:cut])
        start = cut
    return counter.lines


@settings(max_examples=400, deadline=None)
@given(pieces=st.lists(PIECES, max_size=60), cuts=st.lists(st.integers(0, 200), max_size=12))
def test_the_count_is_the_lines_of_the_body_however_it_is_cut(pieces: list[bytes], cuts: list[int]) -> None:
    body = b"".join(pieces)
    lines = body.split(b"\n")
    assert count(body, cuts) == len(lines) - (lines[-1] == b"")


@settings(max_examples=400, deadline=None)
@given(pieces=st.lists(PIECES, max_size=60))
def test_never_fewer_lines_than_parse_yields(pieces: list[bytes]) -> None:
    body = b"".join(pieces)
    assert count(body, []) >= len(bulk.parse(body, NDJSON))
    try:
        records = len(bulk.parse(b"bsn\n" + body, CSV))
    except ProblemError:  # e.g. a stray "\r" csv refuses: nothing is imported
        return
    assert count(b"bsn\n" + body, []) >= records + 1


def test_a_csv_record_over_several_lines_counts_each_line() -> None:
    body = b'bsn,givenNames\n111222333,"Anna\nMaria"\n'
    assert len(bulk.parse(body, CSV)) == 1
    assert count(body, []) == 3


class Source:
    """An async body in chunks that records how many bytes were pulled from it."""

    def __init__(self, body: bytes, chunk: int = 1000) -> None:
        self.body = body
        self.chunk = chunk
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.body), self.chunk):
            piece = self.body[start : start + self.chunk]
            self.pulled += len(piece)
            yield piece


async def read(source: Source, content_type: str = NDJSON, max_lines: int = 100, max_bytes: int = 10**6) -> bytes:
    return bytes(await bulk.read_body(source.__aiter__(), content_type, max_lines=max_lines, max_bytes=max_bytes))


async def test_the_line_limit_stops_reading_at_the_first_line_too_many() -> None:
    exactly = b"a\n" * 100
    assert await read(Source(exactly)) == exactly
    source = Source(b"a\n" * 100_000)
    with pytest.raises(ProblemError) as refused:
        await read(source)
    assert refused.value.status == 413 and refused.value.slug == "payload-too-large"
    assert "At most 100 lines" in refused.value.detail
    assert source.pulled <= 202 + 1000  # line 101 began in the last chunk pulled


async def test_an_unfinished_last_line_counts() -> None:
    with pytest.raises(ProblemError):
        await read(Source(b"a\n" * 100 + b"a"))


async def test_blank_lines_count_and_the_csv_header_does_not() -> None:
    """Blank lines count: within the limit, parse has no more than max_lines lines to skip."""
    with pytest.raises(ProblemError):
        await read(Source(b"a\n\n" * 51))
    csv = b"bsn\n" + b"1\n" * 100
    assert await read(Source(csv), CSV) == csv
    with pytest.raises(ProblemError):
        await read(Source(csv + b"\n"), CSV)


async def test_the_byte_limit_stops_reading_at_the_first_byte_too_many() -> None:
    assert len(await read(Source(b"x" * 5000), max_bytes=5000)) == 5000
    source = Source(b"x" * 1_000_000)
    with pytest.raises(ProblemError) as refused:
        await read(source, max_bytes=5000)
    assert refused.value.status == 413 and "At most 5000 bytes" in refused.value.detail
    assert source.pulled <= 6000


async def test_a_body_of_blank_lines_is_refused_at_the_line_limit() -> None:
    source = Source(b"\n" * (32 * 1024 * 1024), chunk=65536)
    with pytest.raises(ProblemError):
        await read(source, max_lines=10_000, max_bytes=32 * 1024 * 1024)
    assert source.pulled == 65536
