"""Every published OpenAPI document shows an example of each body it takes and each JSON success it
answers, and every example in it is valid against its own schema (issue 15, item 4).

The four documents are built in process exactly as published (as tools/lint_openapi.py does). Examples live
on the pydantic models (``json_schema_extra`` or ``Field(examples=...)``), so they land in the schema
they illustrate; this test walks every schema of every document and validates each example against
it with ``jsonschema_rs`` (JSON Schema 2020-12, formats checked, ``$ref`` resolved in the document).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
from pydantic import BaseModel

from lmx_cli.routes import service_documents
from lmx_common.schemas import CamelInput, Examples

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
JSON_MEDIA = re.compile(r"^application/([a-z0-9.+-]+\+)?json$")

# Answers that have no example yet, each with its reason. An entry that gains an example must go.
WITHOUT_EXAMPLE: dict[tuple[str, str], str] = {}
# Bodies whose example is given per property (every required one, down to the leaves): a whole one would
# hold an address's key `postcode`, which the NL GOV linter takes for the method `post`
# (nlgov:problem-invalid-input selects every key below `paths` matching put|post|patch, $refs resolved).
EXAMPLE_PER_PROPERTY = {
    ("registry", "RegistrationRead"),
    ("registry", "SubjectAccessExport"),
    ("housing", "HousingLocationCreate"),
    ("housing", "HousingLocationRead"),
    ("housing", "HousingLocationPage"),
}
# Schemathesis has no serializer for these bulk media types: their example is in the schema's description.
EXAMPLE_IN_DESCRIPTION = {"application/x-ndjson", "text/csv"}


@pytest.fixture(scope="module")
def docs() -> dict[str, dict[str, Any]]:
    from gateway.main import create_app

    return {"gateway": create_app().openapi(), **service_documents()}


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def _name(schema: dict[str, Any]) -> str | None:
    """The component a body's schema names (through an optional body's ``anyOf [ref, null]``)."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
    return _name(branches[0]) if len(branches) == 1 else None


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][str(schema["$ref"]).rsplit("/", 1)[-1]]
    return schema


def _has_example(schema: dict[str, Any]) -> bool:
    return "example" in schema or bool(schema.get("examples"))


def _example_per_property(document: dict[str, Any], schema: dict[str, Any]) -> bool:
    schema = _resolve(document, schema)
    if _has_example(schema):
        return True
    branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
    if branches:
        return all(_example_per_property(document, b) for b in branches)
    if schema.get("type") == "array":
        return _example_per_property(document, schema.get("items", {}))
    required = schema.get("required", [])
    return bool(required) and all(_example_per_property(document, schema["properties"][p]) for p in required)


def _bodies(document: dict[str, Any]) -> Iterator[tuple[str, str, str, str, dict[str, Any]]]:
    """(method, path, where, media type, media type object) of every request body and 2xx answer."""
    for method, path, op in _operations(document):
        for media_type, content in op.get("requestBody", {}).get("content", {}).items():
            yield method, path, "request", media_type, content
        for status, response in op["responses"].items():
            if status.startswith("2"):
                for media_type, content in response.get("content", {}).items():
                    yield method, path, status, media_type, content


def test_every_request_body_and_json_success_has_an_example(docs: dict[str, dict[str, Any]]) -> None:
    missing, allowed_seen = [], set()
    for name, document in docs.items():
        for method, path, where, media_type, content in _bodies(document):
            schema = content.get("schema", {})
            component = _name(schema)
            target = document["components"]["schemas"][component] if component else schema
            if media_type in EXAMPLE_IN_DESCRIPTION and where == "request":
                assert "e.g." in schema.get("description", ""), (name, method, path, media_type)
                continue
            if where != "request" and not JSON_MEDIA.match(media_type):
                continue  # the HTML pages of the docs
            if (name, component) in WITHOUT_EXAMPLE:
                allowed_seen.add((name, component))
                assert not _has_example(target), f"{component} has an example now: unlist it"
                continue
            if "example" in content or "examples" in content:
                continue
            if (name, component) in EXAMPLE_PER_PROPERTY:
                allowed_seen.add((name, component))
                documented = _example_per_property(document, schema)
            else:
                documented = _has_example(target)
            if not documented:
                missing.append((name, method.upper(), path, where, media_type, component))
    assert not missing, "\n".join(map(str, missing))
    assert allowed_seen == set(WITHOUT_EXAMPLE) | EXAMPLE_PER_PROPERTY, "an allow-list entry names no body"


_SUBSCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")
_SUBSCHEMA = ("items", "not", "additionalProperties", "contains", "if", "then", "else")


def _schemas(schema: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node below ``schema`` (by the JSON Schema keywords, never into an example)."""
    if not isinstance(schema, dict):
        return
    yield where, schema
    for key in ("properties", "$defs", "patternProperties"):
        for name, sub in schema.get(key, {}).items():
            yield from _schemas(sub, f"{where}/{key}/{name}")
    for key in _SUBSCHEMA_LISTS:
        for i, sub in enumerate(schema.get(key, [])):
            yield from _schemas(sub, f"{where}/{key}/{i}")
    for key in _SUBSCHEMA:
        yield from _schemas(schema.get(key), f"{where}/{key}")


def _examples(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """(where, schema, example) for every example in the document: on schema nodes (``examples``,
    ``example``) and on media types (``example``, ``examples.*.value``)."""
    roots: list[tuple[str, Any]] = [
        (f"#/components/schemas/{n}", s) for n, s in document["components"].get("schemas", {}).items()
    ]
    roots += [
        (f"#/components/headers/{n}", h.get("schema")) for n, h in document["components"].get("headers", {}).items()
    ]
    media: list[tuple[str, dict[str, Any]]] = []
    for method, path, op in _operations(document):
        at = f"{method.upper()} {path}"
        roots += [(f"{at} parameter {p.get('name')}", p.get("schema")) for p in op.get("parameters", [])]
        for media_type, content in op.get("requestBody", {}).get("content", {}).items():
            media.append((f"{at} request {media_type}", content))
        for status, response in op["responses"].items():
            for media_type, content in response.get("content", {}).items():
                media.append((f"{at} {status} {media_type}", content))
            for header, declared in response.get("headers", {}).items():
                roots.append((f"{at} {status} header {header}", declared.get("schema")))
    roots += [(where, content.get("schema")) for where, content in media]
    for root_where, root in roots:
        for where, node in _schemas(root, root_where):
            bare = {k: v for k, v in node.items() if k not in ("examples", "example")}
            for example in node.get("examples", []) if isinstance(node.get("examples"), list) else []:
                yield where, bare, example
            if "example" in node:
                yield where, bare, node["example"]
    for where, content in media:
        schema = content.get("schema", {})
        if "example" in content:
            yield where, schema, content["example"]
        for name, example in content.get("examples", {}).items():
            yield f"{where} ({name})", schema, example["value"]


def test_every_example_is_valid_against_its_schema(docs: dict[str, dict[str, Any]]) -> None:
    invalid, checked = [], 0
    for name, document in docs.items():
        for where, schema, example in _examples(document):
            validator = jsonschema_rs.Draft202012Validator(
                {**schema, "components": document["components"]}, validate_formats=True
            )
            errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(example)]
            if errors:
                invalid.append(f"{name} {where}: {errors} in {json.dumps(example)[:200]}")
            checked += 1
    assert not invalid, "\n".join(invalid)
    assert checked > 150, checked  # the walk reaches the examples (181 today)


def test_an_invalid_example_is_caught() -> None:
    """The validation above would fail on a wrong example: a date-time that is none, a missing property."""
    at: dict[str, Any] = {"type": "string", "format": "date-time"}
    components = {"schemas": {"A": {"type": "object", "required": ["at"], "properties": {"at": at}}}}
    validator = jsonschema_rs.Draft202012Validator(
        {"$ref": "#/components/schemas/A", "components": components}, validate_formats=True
    )
    assert not validator.is_valid({"at": "yesterday"})
    assert not validator.is_valid({})
    assert validator.is_valid({"at": "2026-03-01T09:14:03.512000+00:00"})


def test_the_request_body_examples_pass_the_models_own_checks() -> None:
    """Beyond the schema: a BSN passes the 11-proof, a municipality code is on the CBS list in force."""
    from lmx_common.events import schemas as events
    from services.certification import schemas as certification
    from services.housing import schemas as housing
    from services.registry import schemas as registry

    checked = 0
    for module in (registry, certification, housing, events):
        for model in vars(module).values():
            if not (isinstance(model, type) and issubclass(model, BaseModel) and model.__module__ == module.__name__):
                continue
            if not issubclass(model, CamelInput) and model is not events.SubscriptionCreate:
                continue  # answers: their read models take storage names (validation aliases)
            extra = model.model_config.get("json_schema_extra")
            for example in extra.values if isinstance(extra, Examples) else []:
                model.model_validate(example)
                checked += 1
    assert checked >= 15, checked
