"""Bulk import: NDJSON or CSV, a result per line, and nothing written for a bad line."""

from __future__ import annotations

import csv
import io
import json
import uuid
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


def parse(body: bytes, content_type: str) -> list[tuple[int, Any]]:
    """(line number, parsed document or a ValueError) for every non-empty line."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProblemError(400, "The body is not UTF-8.", slug="invalid-input") from exc
    if content_type == "text/csv":
        try:
            reader = csv.DictReader(io.StringIO(text))
            unknown = [c for c in reader.fieldnames or [] if c not in CSV_COLUMNS]
            if unknown:
                raise ProblemError(400, "Unknown CSV columns: " + ", ".join(unknown), slug="invalid-input")
            return [(index + 2, _nest(row)) for index, row in enumerate(reader)]  # line 1 is the header
        except csv.Error as exc:
            raise ProblemError(400, f"The CSV cannot be read: {exc}", slug="invalid-input") from exc
    lines: list[tuple[int, Any]] = []
    # Only "\n" ends a line: U+2028 and friends may stand inside JSON strings.
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        try:
            lines.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            lines.append((number, ValueError(f"not JSON: {exc.msg}")))
        except (ValueError, RecursionError):  # absurd numbers or nesting
            lines.append((number, ValueError("not JSON this service accepts (number too long or nesting too deep)")))
    return lines


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


async def import_lines(
    session: AsyncSession, principal: Principal, lines: list[tuple[int, Any]], vault: BsnVault
) -> tuple[dict[str, Any], list[Created]]:
    """Validate every line; create the valid ones in the caller's transaction. Returns the answer's
    body (BulkResult's JSON, built as plain dicts: no model per line) and the created registrations.

    A line in its usual form is checked by fast_validation; any other goes through the pydantic model,
    which accepts what it accepts and words the errors (the answers are the same either way)."""
    checker = fast_validation.Checker(principal, date.today())
    results: list[dict[str, Any]] = []  # in line order: the lines come in order
    accepted: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (its result, its fields)
    for number, document in lines:
        if isinstance(document, ValueError):
            results.append(_invalid(number, [{"name": "line", "code": "json", "reason": str(document)}]))
            continue
        plain = checker.plain_row(document)
        if plain is None:
            checked = _checked_slowly(document, principal)
            if isinstance(checked, list):
                results.append(_invalid(number, checked))
                continue
            plain = checked
        result = {"line": number, "status": "created"}
        results.append(result)
        accepted.append((result, plain))

    # Every key's pseudonym (one, unless keys rotate): the first is stored, any of them may be taken.
    candidates = [vault.pseudonyms(plain[_BSN]) if plain[_BSN] else () for _, plain in accepted]
    pseudonyms = [c[0] if c else None for c in candidates]
    taken = await repository.active_pseudonyms(session, [p for c in candidates for p in c])
    taken.update(c[0] for c in candidates if len(c) > 1 and not taken.isdisjoint(c))
    seen: set[str] = set()
    now = datetime.now(UTC)
    rows: list[tuple[Any, ...]] = []
    created: list[Created] = []
    duplicate = errors.already_registered().detail
    for (result, plain), pseudonym in zip(accepted, pseudonyms, strict=True):
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
    try:
        await repository.insert_registrations(session, fields.REGISTRATION_COLUMNS, rows)
    except IntegrityError as exc:  # another request registered one of these BSNs meanwhile
        raise ProblemError(
            409,
            "A concurrent request registered one of these BSNs; nothing was written, send the batch again.",
            slug="conflict",
        ) from exc
    body = {"created": len(created), "invalid": len(results) - len(created), "results": results}
    return body, created
