"""The field map (services/registry/fields.py) against the schemas, the table and the code that derives
from it: a field added in one place and not the others fails here.

Adding a field to a registration (docs/registry.md): one line in fields.FIELDS, the attribute in the
create and read schemas, the column in models.Registration and a migration.
"""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, get_args

import pytest
from pydantic import BaseModel

import services.registry
from lmx_common.auth import OrganisationType, Principal
from services.registry import bulk, fast_validation, fields, retention, service
from services.registry.crypto import BsnVault
from services.registry.models import Registration
from services.registry.schemas import RegistrationCreate, RegistrationRead
from tests.support.registrations import make_registration

PATHS = {f.path for f in fields.FIELDS}
# What a read answers besides the fields: set by the registry itself, never by a create body.
READ_ONLY_PATHS = {
    "id",
    "status",
    "departure.date",
    "departure.reason",
    "departure.destination.type",
    "departure.destination.municipalityCode",
    "departure.destination.countryCode",
    "registeredBy.organisationOin",
    "registeredBy.organisationType",
    "registeredBy.clientId",
    "createdAt",
    "updatedAt",
    "anonymised",
    "restricted",
}
# The table's columns that are not fields: bookkeeping, departure and anonymisation.
OTHER_COLUMNS = {
    "id",
    "status",
    "departure_date",
    "departure_reason",
    "departure_destination_type",
    "departure_destination_code",
    "created_by_oin",
    "created_by_client_id",
    "created_by_type",
    "created_at",
    "updated_at",
    "version",
    "record_key",  # the cell-key method (ADR 0027): never shown
    "anonymised_at",
    "anonymisation_level",
    "restricted_at",
    "restriction_reason",
    "erased_at",
    "erasure_reason",
}
VAULT = BsnVault("test-pseudonym-key", "test-encryption-key")
WHO = Principal(
    client_id="test-client",
    organisation_oin="00000099000000000042",
    organisation_type=OrganisationType.INFORMATION_POINT,
    scopes=frozenset({"registry:write"}),
    token_id="fields",
    expires_at=2**31,
)


def leaves(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    """Every leaf of a model, as JSON path -> attribute path."""
    found: dict[str, tuple[str, ...]] = {}
    for name, info in model.model_fields.items():
        key = (*prefix, info.alias or name)
        nested = [a for a in (get_args(info.annotation) or (info.annotation,)) if isinstance(a, type)]
        models = [a for a in nested if issubclass(a, BaseModel)]
        if models:
            found.update({p: (name, *attrs) for p, attrs in leaves(models[0], key).items()})
        else:
            found[".".join(key)] = (name,)
    return found


def test_the_map_and_the_create_schema_name_the_same_fields():
    create = leaves(RegistrationCreate)
    assert set(create) == PATHS
    for f in fields.FIELDS:
        assert create[f.path] == f.attributes, f.path


def test_the_map_and_the_read_schema_name_the_same_fields():
    read = leaves(RegistrationRead)
    assert set(read) - READ_ONLY_PATHS == PATHS
    for f in fields.FIELDS:
        assert read[f.path] == f.attributes, f.path
    optional = {p for p in {".".join(f.keys[:-1]) for f in fields.FIELDS} if p}
    for group in optional:  # a sub-object is null when empty exactly where the read schema allows null
        outer, _, name = group.rpartition(".")
        model: Any = RegistrationRead
        for key in filter(None, outer.split(".")):
            model = next(
                a for a in get_args(model.model_fields[key].annotation) or [model.model_fields[key].annotation]
            )
        allows_null = type(None) in get_args(model.model_fields[name].annotation)
        assert allows_null == (group in fields.OPTIONAL_GROUPS), group


def test_the_map_and_the_table_name_the_same_columns():
    table = {c.name for c in Registration.__table__.columns}
    stored = [c for f in fields.FIELDS for c in f.columns]
    assert len(stored) == len(set(stored))
    assert table - OTHER_COLUMNS == set(stored)
    assert set(fields.REGISTRATION_COLUMNS) <= table
    assert len(fields.REGISTRATION_COLUMNS) == len(set(fields.REGISTRATION_COLUMNS))


def test_derived_sets_follow_the_map():
    assert list(bulk.CSV_COLUMNS) == [f.csv for f in fields.FIELDS]
    assert len(set(bulk.CSV_COLUMNS)) == len(fields.FIELDS)
    # Anonymisation (retention.py) empties exactly the personal fields' columns.
    assert set(retention.PERSONAL_FIELDS) == set(fields.PERSONAL_COLUMNS)
    assert {f.keys[0] for f in fields.FIELDS if f.patchable} == service.PATCHABLE
    assert "channel" in service.READ_ONLY
    # The bulk fast path checks every field: by its own code or by the field's pattern.
    assert fast_validation.UNCHECKED == ()
    assert fast_validation._CHECKED_HERE <= PATHS


def test_a_create_body_goes_through_every_derivation_unchanged():
    """Body -> plain row -> registration -> read -> create document: each field arrives intact."""
    every = {"residence.housingLocationId": "wb-gm1655-01", "work.economicLocationId": "wb-moerdijk-park"}
    document = make_registration(**every)
    body = RegistrationCreate.model_validate(document)
    plain = fields.plain_fields(body)
    assert all(value is not None for value in plain.values())  # every field is exercised
    assert fast_validation.Checker(WHO, date.today()).plain_row(document) == plain
    registration = service.new_registration(body, WHO, VAULT, datetime.now(UTC))
    for f in fields.FIELDS:
        if not f.encrypted:
            assert getattr(registration, f.column) == plain[f.column], f.path
    values = dict(
        zip(
            fields.REGISTRATION_COLUMNS,
            fields.registration_values("x", "p", "e", plain, WHO, datetime.now(UTC)),
            strict=True,
        )
    )
    assert {c: values[c] for c in plain if c != "bsn"} == {c: v for c, v in plain.items() if c != "bsn"}
    read = service.to_read(registration, VAULT)
    assert fields.plain_fields(read) == plain  # type: ignore[arg-type]  # the read has the same attribute paths
    assert RegistrationCreate.model_validate(service.as_create_document(registration, VAULT)) == body


def _load(name: str, path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_adding_a_field_is_one_line_in_the_map(monkeypatch: pytest.MonkeyPatch):
    """The map's part of adding a field (docs/registry.md): this one line, and the CSV column, the bulk
    insert's columns, the merge-patch apply, the read document, the create document and the fast
    path's checks all follow. (The schema attribute, the model column and a migration are the rest.)"""
    source = Path(fields.__file__).read_text()
    anchor = '    Field("work.startDate", "work_start_date", "workStartDate"),\n'
    assert anchor in source
    extended = source.replace(
        anchor, anchor + '    Field("work.contractId", "contract_id", "contractId", pattern=LOCATION_ID_PATTERN),\n'
    )
    demo = ModuleType("fields_demo")
    demo.__file__ = fields.__file__
    sys.modules["fields_demo"] = demo
    try:
        exec(compile(extended, fields.__file__, "exec"), demo.__dict__)  # noqa: S102 (our own source)
    finally:
        del sys.modules["fields_demo"]
    new = demo.__dict__

    assert new["CSV_COLUMNS"]["contractId"] == ("work", "contractId")
    columns = new["REGISTRATION_COLUMNS"]
    assert columns.index("contract_id") == columns.index("work_start_date") + 1
    assert "contractId" in new["keys_under"]("work")

    body = SimpleNamespace(
        **{f: None for f in ("person", "registration_type", "channel", "arrival_date", "expected_end_date")}
    )
    body.residence = None
    body.work = SimpleNamespace(
        municipality_code="GM1709",
        employer_kvk_number="12345678",
        agency_kvk_number=None,
        economic_location_id=None,
        start_date=None,
        contract_id="c-42",
    )
    assert new["plain_fields"](body)["contract_id"] == "c-42"
    registration = SimpleNamespace()
    new["apply"](registration, body, VAULT)
    assert registration.contract_id == "c-42"
    assert new["read_document"](registration, VAULT.decrypt)["work"]["contract_id"] == "c-42"
    read = {"work": {"municipalityCode": "GM1709", "contractId": "c-42"}}
    assert new["create_document"](read)["work"]["contractId"] == "c-42"

    # The fast path, built over the extended map, checks the new field by its pattern.
    monkeypatch.setattr(services.registry, "fields", demo)
    monkeypatch.setitem(sys.modules, "services.registry.fields", demo)
    fast = _load("fast_validation_demo", fast_validation.__file__)
    assert fast.UNCHECKED == ()
    checker = fast.Checker(WHO, date.today())
    assert checker.plain_row(make_registration(**{"work.contractId": "c-42"}))["contract_id"] == "c-42"
    assert checker.plain_row(make_registration(**{"work.contractId": "not valid!"})) is None
    assert checker.plain_row(make_registration())["contract_id"] is None
