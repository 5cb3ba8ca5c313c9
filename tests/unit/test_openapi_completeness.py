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
GATEWAY_STATUSES = ("406", "429", "502", "503", "504")


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


def test_every_service_operation_documents_the_problems_its_inputs_can_cause(
    service_docs: dict[str, dict[str, Any]],
) -> None:
    """A body: 413 (the gateway's limit) and 415; an If-Match header: 412, and 428 where it is required
    (a PUT or PATCH, lmx_common/etag.py); a path parameter: 404; any parameter or body: 400."""
    for name, document in service_docs.items():
        for method, path, op in _operations(document):
            responses, where = op["responses"], (name, method, path)
            parameters = {p["name"]: p for p in op.get("parameters", [])}
            if "requestBody" in op:
                assert {"400", "413", "415"} <= set(responses), where
            if parameters:
                assert "400" in responses, where
            if "If-Match" in parameters:
                assert "412" in responses, where
                assert ("428" in responses) is (method in ("put", "patch")), where
            if method in ("put", "patch"):
                assert "If-Match" in parameters, where


def test_the_gateway_documents_429_with_retry_after_wherever_it_limits(all_docs: dict[str, dict[str, Any]]) -> None:
    """The token endpoint (per address) and the catalogue (per client) are rate limited (gateway/oauth.py,
    gateway/catalogue.py); the token endpoint refuses another media type with RFC 6749 invalid_request, not 415."""
    paths = all_docs["gateway"]["paths"]
    for path, method in (("/oauth/token", "post"), ("/catalogue", "get")):
        too_many = paths[path][method]["responses"]["429"]
        assert "Retry-After" in too_many["headers"], path
        assert "application/problem+json" in too_many["content"], path
    assert "415" not in paths["/oauth/token"]["post"]["responses"]
