"""Every published OpenAPI document can be read alone (issue 15, item 4).

Built in process exactly as published (tools/lint_openapi.py): the gateway's and each service's.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

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
                assert "Location" in responses["201"].get("headers", {}), where
            if any(p.get("in") == "path" for p in op.get("parameters", [])):
                assert "404" in responses, where
            assert "x-lmx-sets-etag" not in op, where


def test_etag_is_declared_on_the_single_resource_reads_and_changes(service_docs: dict[str, dict[str, Any]]) -> None:
    expected = {
        "registry": {("get", "/v1/registrations/{registrationId}"), ("patch", "/v1/registrations/{registrationId}")},
        "housing": {
            ("get", "/v1/housing-locations/{housingLocationId}"),
            ("patch", "/v1/housing-locations/{housingLocationId}"),
            ("get", "/v1/economic-locations/{economicLocationId}"),
        },
        "certification": {("get", "/v1/certificates/{certificateId}"), ("get", "/v1/reports/{reportId}")},
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
