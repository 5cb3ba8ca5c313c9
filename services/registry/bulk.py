"""Bulk import: NDJSON or CSV, a result per line, and nothing written for a bad line."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any, NamedTuple

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.auth import Principal
from lmx_common.problems import ProblemError, validation_params
from services.registry import errors, fast_validation, fields, repository
from services.registry.crypto import BsnVault
from services.registry.schemas import RegistrationCreate
from services.registry.validation import cross_field_problems
from services.registry.visibility import check_may_register

# CSV columns and where they go in the JSON body (fields.FIELDS).
CSV_COLUMNS = fields.CSV_COLUMNS

# The bulk import shares the event loop with every other request. Decoding, validating, pseudonymising
# and encrypting a line takes 30 to 200 µs, so it gives the loop back (asyncio.sleep(0)) every
# SLICE_LINES lines. Measured against a worker thread (asyncio.to_thread), which kept other requests
# waiting as long and slowed the import by contending for the GIL (docs/performance.md).
SLICE_LINES = 100
# Rows per COPY (or INSERT) of a bulk import's writes: asyncpg encodes a COPY's rows on the event loop
# in one go, so 10,000 rows at once held it for about 100 ms; a few statements more cost ~2%.
WRITE_SLICE = 2000

_BSN = fields.BSN.column
_WORK = fields.REGISTRATION_COLUMNS.index("work_municipality_code")
_RESIDENCE = fields.REGISTRATION_COLUMNS.index("residence_municipality_code")


def _nest(row: dict[str, str]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for column, value in row.items():
        if value is None or value == "":
            continue
        path = CSV_COLUMNS.get(column, (column,))  # an unknown column is refused by the schema
        target = document
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    return document


class LineCounter:
    """Counts a body's lines as its chunks arrive: every newline ends one, blank lines included, and
    bytes after the last newline are one more. Only the count is kept, whatever the chunks' sizes,
    and the count is in C (bytes.count). Never below the lines parse yields (it skips blank lines; a
    CSV record has at least one line), so the limit holds for what is imported, and a body within it
    has few lines to skip."""

    def __init__(self) -> None:
        self.complete = 0  # lines ended by a newline
        self.open = False  # bytes came after the last newline

    @property
    def lines(self) -> int:
        return self.complete + self.open

    def feed(self, chunk: bytes | bytearray) -> int:
        """Count the chunk's lines; returns the lines so far (an unfinished one included)."""
        if chunk:
            self.complete += chunk.count(b"\n")
            self.open = not chunk.endswith(b"\n")
        return self.lines


def too_many_lines(max_lines: int) -> ProblemError:
    return ProblemError(413, f"At most {max_lines} lines per request; split the file.", slug="payload-too-large")


def too_many_bytes(max_bytes: int) -> ProblemError:
    return ProblemError(413, f"At most {max_bytes} bytes per request; split the file.", slug="payload-too-large")


async def read_body(chunks: AsyncIterator[bytes], content_type: str, *, max_lines: int, max_bytes: int) -> bytearray:
    """The body, read chunk by chunk: a 413 as soon as it has more than max_lines lines (the CSV header
    line not counted) or more than max_bytes bytes, without reading the rest."""
    allowed = max_lines + (1 if content_type == "text/csv" else 0)
    counter = LineCounter()
    body = bytearray()
    async for chunk in chunks:
        if len(body) + len(chunk) > max_bytes:
            raise too_many_bytes(max_bytes)
        body += chunk
        if counter.feed(chunk) > allowed:
            raise too_many_lines(max_lines)
    return body


async def read_lines(
    chunks: AsyncIterator[bytes], content_type: str, *, max_lines: int, max_bytes: int
) -> list[tuple[int, Any]]:
    """read_body, then parse, giving the event loop back every SLICE_LINES lines."""
    body = await read_body(chunks, content_type, max_lines=max_lines, max_bytes=max_bytes)
    lines: list[tuple[int, Any]] = []
    for count, line in enumerate(_parsed(_decoded(body), content_type), start=1):
        lines.append(line)
        if count % SLICE_LINES == 0:
            await asyncio.sleep(0)
    return lines


def _decoded(body: bytes | bytearray) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProblemError(400, "The body is not UTF-8.", slug="invalid-input") from exc


def _parsed(text: str, content_type: str) -> Iterator[tuple[int, Any]]:
    """(line number, parsed document or a ValueError) for every non-empty line, one at a time."""
    if content_type == "text/csv":
        try:
            reader = csv.DictReader(io.StringIO(text))
            unknown = [c for c in reader.fieldnames or [] if c not in CSV_COLUMNS]
            if unknown:
                raise ProblemError(400, "Unknown CSV columns: " + ", ".join(unknown), slug="invalid-input")
            for index, row in enumerate(reader):
                yield index + 2, _nest(row)  # line 1 is the header
        except csv.Error as exc:
            raise ProblemError(400, f"The CSV cannot be read: {exc}", slug="invalid-input") from exc
        return
    # Only "\n" ends a line: U+2028 and friends may stand inside JSON strings.
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, ValueError(f"not JSON: {exc.msg}")
        except (ValueError, RecursionError):  # absurd numbers or nesting
            yield number, ValueError("not JSON this service accepts (number too long or nesting too deep)")


def parse(body: bytes | bytearray, content_type: str) -> list[tuple[int, Any]]:
    """(line number, parsed document or a ValueError) for every non-empty line."""
    return list(_parsed(_decoded(body), content_type))


class Created(NamedTuple):
    """What the processing log and the registration.created event need of a created line."""

    id: str
    work_municipality_code: str
    residence_municipality_code: str


def _invalid(number: int, errors: list[dict[str, str]]) -> dict[str, Any]:
    return {"line": number, "status": "invalid", "errors": errors}


def _checked_slowly(document: Any, principal: Principal) -> dict[str, Any] | list[dict[str, str]]:
    """The pydantic model and the service's rules: the line's fields, or every error in its words."""
    try:
        body = RegistrationCreate.model_validate(document)
    except ValidationError as exc:
        return [p.as_dict() for p in validation_params(exc.errors())]
    problems = [p.as_dict() for p in cross_field_problems(body)]
    try:
        check_may_register(principal, body)
    except ProblemError as exc:
        problems.append({"name": "line", "code": "forbidden", "reason": exc.detail})
    return problems or fields.plain_fields(body)


class _Checked(NamedTuple):
    results: list[dict[str, Any]]  # in line order: the lines come in order
    accepted: list[tuple[dict[str, Any], dict[str, Any]]]  # (its result, its fields)
    pseudonyms: list[str | None]  # of the accepted lines: the current key's, stored
    candidates: list[tuple[str, ...]]  # of the accepted lines: every key's (more than one while keys rotate)


async def _check(lines: list[tuple[int, Any]], principal: Principal, vault: BsnVault) -> _Checked:
    """Validate every line and pseudonymise the valid ones' BSNs, in slices."""
    checker = fast_validation.Checker(principal, date.today())
    checked = _Checked([], [], [], [])
    for count, (number, document) in enumerate(lines, start=1):
        if count % SLICE_LINES == 0:
            await asyncio.sleep(0)
        if isinstance(document, ValueError):
            checked.results.append(_invalid(number, [{"name": "line", "code": "json", "reason": str(document)}]))
            continue
        plain = checker.plain_row(document)
        if plain is None:
            slowly = _checked_slowly(document, principal)
            if isinstance(slowly, list):
                checked.results.append(_invalid(number, slowly))
                continue
            plain = slowly
        result = {"line": number, "status": "created"}
        checked.results.append(result)
        checked.accepted.append((result, plain))
        candidates = vault.pseudonyms(plain[_BSN]) if plain[_BSN] else ()
        checked.candidates.append(candidates)
        checked.pseudonyms.append(candidates[0] if candidates else None)
    return checked


async def _rows(
    checked: _Checked, taken: set[str], principal: Principal, vault: BsnVault
) -> tuple[list[tuple[Any, ...]], list[Created]]:
    """The rows to insert (BSN encrypted) and the created lines, in slices; a BSN already active, or
    twice in the batch, makes its line invalid."""
    seen: set[str] = set()
    now = datetime.now(UTC)
    rows: list[tuple[Any, ...]] = []
    created: list[Created] = []
    duplicate = errors.already_registered().detail
    for count, ((result, plain), pseudonym) in enumerate(zip(checked.accepted, checked.pseudonyms, strict=True), 1):
        if count % SLICE_LINES == 0:
            await asyncio.sleep(0)
        if pseudonym:
            if pseudonym in taken or pseudonym in seen:
                result["status"] = "invalid"
                result["errors"] = [{"name": "person.bsn", "code": "duplicate", "reason": duplicate}]
                continue
            seen.add(pseudonym)
        registration_id = str(uuid.uuid4())
        encrypted = vault.encrypt(plain[_BSN]) if pseudonym else None
        rows.append(fields.registration_values(registration_id, pseudonym, encrypted, plain, principal, now))
        created.append(Created(registration_id, plain["work_municipality_code"], plain["residence_municipality_code"]))
        result["id"] = registration_id
    # In (work, residence) order: below the COPY threshold the rows go in one statement each, and the
    # active-counts trigger (ADR 0017) then locks each pair's counter row in turn; one order for every
    # writer means two imports cannot deadlock on them.
    rows.sort(key=itemgetter(_WORK, _RESIDENCE))
    return rows, created


async def import_lines(
    session: AsyncSession, principal: Principal, lines: list[tuple[int, Any]], vault: BsnVault
) -> tuple[dict[str, Any], list[Created]]:
    """Validate every line; create the valid ones in the caller's transaction. Returns the answer's
    body (BulkResult's JSON, built as plain dicts: no model per line) and the created registrations.

    A line in its usual form is checked by fast_validation; any other goes through the pydantic model,
    which accepts what it accepts and words the errors (the answers are the same either way).
    The work per line gives the event loop back every SLICE_LINES lines, and the rows are written
    WRITE_SLICE at a time: other requests are served meanwhile (docs/registry.md, "Bulk import")."""
    checked = await _check(lines, principal, vault)
    # Any key's pseudonym may be taken (while keys rotate); the line is then a duplicate by its stored one.
    taken = await repository.active_pseudonyms(session, [p for c in checked.candidates for p in c])
    taken.update(c[0] for c in checked.candidates if len(c) > 1 and not taken.isdisjoint(c))
    rows, created = await _rows(checked, taken, principal, vault)
    try:
        for start in range(0, len(rows), WRITE_SLICE):  # in the order of _rows
            await repository.insert_registrations(
                session, fields.REGISTRATION_COLUMNS, rows[start : start + WRITE_SLICE]
            )
    except IntegrityError as exc:  # another request registered one of these BSNs meanwhile
        raise ProblemError(
            409,
            "A concurrent request registered one of these BSNs; nothing was written, send the batch again.",
            slug="conflict",
        ) from exc
    results = checked.results
    body = {"created": len(created), "invalid": len(results) - len(created), "results": results}
    return body, created
