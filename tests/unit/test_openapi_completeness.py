"""Every published OpenAPI document can be read alone (issue 15, item 4).

Built in process exactly as published (tools/lint_openapi.py): the gateway's and each service's.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
from pydantic import BaseModel

from lmx_cli.routes import service_documents

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
LOWER_CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")
GATEWAY_STATUSES = ("429", "502", "503", "504")


def _gateway_document() -> dict[str, Any]:
    from gateway.main import create_app

    return create_app().openapi()


@pytest.fixture(scope="module")
def service_docs() -> dict[str, dict[str, Any]]:
    return service_documents()


@pytest.fixture(scope="module")
def all_docs(service_docs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {"gateway": _gateway_document(), **service_docs}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_every_operation_has_a_lower_camel_case_operation_id_unique_in_its_document(
    all_docs: dict[str, dict[str, Any]],
) -> None:
    for name, document in all_docs.items():
        ids = [op.get("operationId", "") for _, _, op in _operations(document)]
        assert all(LOWER_CAMEL.match(i) for i in ids), (name, [i for i in ids if not LOWER_CAMEL.match(i)])
        assert not [i for i, n in Counter(ids).items() if n > 1], name


def test_every_operation_has_a_description_and_a_tag(all_docs: dict[str, dict[str, Any]]) -> None:
    for name, document in all_docs.items():
        for method, path, op in _operations(document):
            assert op.get("description"), (name, method, path)
            assert op.get("tags"), (name, method, path)


def test_every_service_operation_documents_the_gateways_answers(service_docs: dict[str, dict[str, Any]]) -> None:
    for name, document in service_docs.items():
        for method, path, op in _operations(document):
            missing = [s for s in GATEWAY_STATUSES if s not in op["responses"]]
            assert not missing, (name, method, path, missing)


# 201 answers that send no Location (lmx_common.app.NO_LOCATION): a status change, a note, an occupancy report.
APPENDS_TO_A_HISTORY = {
    ("post", "/certificates/{certificateId}/status-changes"),
    ("post", "/reports/{reportId}/notes"),
    ("post", "/housing-locations/{housingLocationId}/occupancy-reports"),
}


def test_retry_after_on_429_and_503_location_on_201_404_with_path_parameters(
    all_docs: dict[str, dict[str, Any]],
) -> None:
    for name, document in all_docs.items():
        headers = document["components"]["headers"]
        assert {"API-Version", "Retry-After"} <= set(headers)
        assert name == "gateway" or {"Location", "ETag"} <= set(headers)
        for method, path, op in _operations(document):
            responses = op["responses"]
            where = (name, method, path)
            for status in ("429", "503"):
                if status in responses:
                    assert "Retry-After" in responses[status].get("headers", {}), (*where, status)
            if "201" in responses:
                # Every 201 names its new resource, but those appending to a history (no URL of their own).
                appends = (method, path) in APPENDS_TO_A_HISTORY
                assert ("Location" in responses["201"].get("headers", {})) is not appends, where
            if any(p.get("in") == "path" for p in op.get("parameters", [])):
                assert "404" in responses, where
            assert "x-lmx-sets-etag" not in op, where


def test_etag_is_declared_on_the_single_resource_reads_and_changes(service_docs: dict[str, dict[str, Any]]) -> None:
    expected = {
        "registry": {("get", "/registrations/{registrationId}"), ("patch", "/registrations/{registrationId}")},
        "housing": {
            ("get", "/housing-locations/{housingLocationId}"),
            ("patch", "/housing-locations/{housingLocationId}"),
            ("get", "/economic-locations/{economicLocationId}"),
        },
        "certification": {("get", "/certificates/{certificateId}"), ("get", "/reports/{reportId}")},
    }
    for name, operations in expected.items():
        for method, path in operations:
            response = service_docs[name]["paths"][path][method]["responses"]["200"]
            assert "ETag" in response.get("headers", {}), (name, method, path)


def test_every_service_parameter_has_a_description(service_docs: dict[str, dict[str, Any]]) -> None:
    for name, document in service_docs.items():
        for method, path, op in _operations(document):
            missing = [p["name"] for p in op.get("parameters", []) if not p.get("description")]
            assert not missing, (name, method, path, missing)


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _has_example(document: dict[str, Any], schema: dict[str, Any]) -> bool:
    """An example of the whole, or (when a whole one would trip the NL GOV linter's ``post``/``get``
    matching on a key such as ``postcode``) one on every required property."""
    schema = _resolve(document, schema)
    if "example" in schema or "examples" in schema:
        return True
    if "anyOf" in schema:
        return any(_has_example(document, branch) for branch in schema["anyOf"] if branch.get("type") != "null")
    required = schema.get("required", [])
    return bool(required) and all(_has_example(document, schema["properties"][name]) for name in required)


# Schemathesis has no serializer for these: their example is in the schema's description instead.
EXAMPLE_IN_DESCRIPTION = {"application/x-ndjson", "text/csv"}


def test_every_service_request_body_has_an_example(service_docs: dict[str, dict[str, Any]]) -> None:
    for name, document in service_docs.items():
        for method, path, op in _operations(document):
            for media_type, content in op.get("requestBody", {}).get("content", {}).items():
                if media_type in EXAMPLE_IN_DESCRIPTION:
                    assert "e.g." in content["schema"]["description"], (name, method, path, media_type)
                    continue
                documented = "example" in content or "examples" in content
                assert documented or _has_example(document, content.get("schema", {})), (name, method, path, media_type)


def test_the_request_body_examples_are_valid() -> None:
    from lmx_common.events import schemas as events
    from services.certification import schemas as certification
    from services.housing import schemas as housing
    from services.registry import schemas as registry

    for module in (registry, certification, housing, events):
        for model in vars(module).values():
            if isinstance(model, type) and issubclass(model, BaseModel) and model.__module__ == module.__name__:
                extra = model.model_config.get("json_schema_extra")
                examples = extra.get("examples") if isinstance(extra, dict) else None
                for example in examples if isinstance(examples, list) else []:
                    model.model_validate(example)
