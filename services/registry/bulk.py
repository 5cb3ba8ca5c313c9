"""Bulk import: NDJSON or CSV, a result per line, and nothing written for a bad line."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.auth import Principal
from lmx_common.problems import ProblemError, validation_params
from services.registry import errors, service
from services.registry.crypto import BsnVault
from services.registry.models import Registration
from services.registry.schemas import BulkLineResult, BulkResult, RegistrationCreate

# CSV columns and where they go in the JSON body.
CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "bsn": ("person", "bsn"),
    "givenNames": ("person", "givenNames"),
    "surname": ("person", "surname"),
    "dateOfBirth": ("person", "dateOfBirth"),
    "nationality": ("person", "nationality"),
    "email": ("person", "contact", "email"),
    "phone": ("person", "contact", "phone"),
    "registrationType": ("registrationType",),
    "channel": ("channel",),
    "residenceMunicipalityCode": ("residence", "municipalityCode"),
    "residencePostcode": ("residence", "postcode"),
    "residenceHouseNumber": ("residence", "houseNumber"),
    "housingLocationId": ("residence", "housingLocationId"),
    "workMunicipalityCode": ("work", "municipalityCode"),
    "employerKvkNumber": ("work", "employerKvkNumber"),
    "agencyKvkNumber": ("work", "agencyKvkNumber"),
    "economicLocationId": ("work", "economicLocationId"),
    "workStartDate": ("work", "startDate"),
    "arrivalDate": ("arrivalDate",),
    "expectedEndDate": ("expectedEndDate",),
}


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


async def import_lines(
    session: AsyncSession, principal: Principal, lines: list[tuple[int, Any]], vault: BsnVault
) -> tuple[BulkResult, list[dict[str, Any]]]:
    """Validate every line; create the valid ones in the caller's transaction. Returns the result and the
    created rows."""
    results: list[BulkLineResult] = []
    accepted: list[tuple[int, RegistrationCreate]] = []
    for number, document in lines:
        if isinstance(document, ValueError):
            results.append(
                BulkLineResult(
                    line=number, status="invalid", errors=[{"name": "line", "code": "json", "reason": str(document)}]
                )
            )
            continue
        try:
            body = RegistrationCreate.model_validate(document)
        except ValidationError as exc:
            results.append(
                BulkLineResult(
                    line=number, status="invalid", errors=[p.as_dict() for p in validation_params(exc.errors())]
                )
            )
            continue
        problems = [p.as_dict() for p in service.cross_field_problems(body)]
        try:
            service.check_may_register(principal, body)
        except ProblemError as exc:
            problems.append({"name": "line", "code": "forbidden", "reason": exc.detail})
        if problems:
            results.append(BulkLineResult(line=number, status="invalid", errors=problems))
            continue
        accepted.append((number, body))

    now = datetime.now(UTC)
    rows = {number: service.registration_row(body, principal, vault, now) for number, body in accepted}
    pseudonyms = [r["bsn_pseudonym"] for r in rows.values() if r["bsn_pseudonym"]]
    taken = await service.active_pseudonyms(session, pseudonyms)
    seen: set[str] = set()
    created: list[dict[str, Any]] = []
    for number, row in rows.items():
        pseudonym = row["bsn_pseudonym"]
        if pseudonym and (pseudonym in taken or pseudonym in seen):
            results.append(
                BulkLineResult(
                    line=number,
                    status="invalid",
                    errors=[{"name": "person.bsn", "code": "duplicate", "reason": errors.already_registered().detail}],
                )
            )
            continue
        if pseudonym:
            seen.add(pseudonym)
        created.append(row)
        results.append(BulkLineResult(line=number, status="created", id=row["id"]))
    if created:
        try:
            await session.execute(insert(cast(Table, Registration.__table__)), created)
        except IntegrityError as exc:  # another request registered one of these BSNs meanwhile
            raise ProblemError(
                409,
                "A concurrent request registered one of these BSNs; nothing was written, send the batch again.",
                slug="conflict",
            ) from exc
    results.sort(key=lambda r: r.line)
    invalid = sum(1 for r in results if r.status == "invalid")
    return BulkResult(created=len(created), invalid=invalid, results=results), created
