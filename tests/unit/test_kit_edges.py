"""Protocol edges the kit answers for every service, in-process (no database, no token needed):
431 for a large request head, HEAD wherever GET is, a complete Allow on 405, a percent-encoded
`instance`, signed cursors."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from gateway.oauth import jti_key
from lmx_common.pagination import cursor_value, decode_cursor, encode_cursor
from lmx_common.problems import ProblemError, problem_body
from services.certification.main import create_app as certification
from services.housing.main import create_app as housing
from services.registry.main import create_app as registry

APPS: dict[str, Callable[[], FastAPI]] = {"registry": registry, "certification": certification, "housing": housing}


def client(name: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(APPS[name]()), base_url="http://service")


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["type"] == f"/problems/{slug}" and body["status"] == status
    return body


@pytest.mark.parametrize("name", sorted(APPS))
async def test_a_service_refuses_a_30_kib_header_or_too_many_headers_with_431(name):
    async with client(name) as http:
        big = await http.get("/health/live", headers={"X-Padding": "p" * 30 * 1024})
        body = assert_problem(big, 431, "request-header-fields-too-large")
        assert body["instance"] == "/health/live" and big.headers["x-content-type-options"] == "nosniff"
        many = await http.get("/health/live", headers={f"X-Header-{i}": "v" for i in range(120)})
        assert_problem(many, 431, "request-header-fields-too-large")
        # What the gateway lets through (16 KiB, 100 headers) plus its own few passes.
        within = await http.get("/health/live", headers={"X-Padding": "p" * 16 * 1024, "X-Forwarded-Prefix": "/x"})
        assert within.status_code == 200


@pytest.mark.parametrize("name", sorted(APPS))
async def test_head_is_served_wherever_get_is_with_the_same_headers_and_no_body(name):
    async with client(name) as http:
        get = await http.get("/health/live")
        head = await http.head("/health/live")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == get.headers["content-length"]
        assert head.headers["content-type"] == get.headers["content-type"]


@pytest.mark.parametrize(
    ("name", "path", "allow"),
    [
        ("registry", "/v1/registrations", "GET, HEAD, POST"),
        ("certification", "/v1/organisations", "GET, HEAD, POST"),
        ("housing", "/v1/housing-locations", "GET, HEAD, POST"),
        ("housing", "/health/live", "GET, HEAD"),
    ],
)
async def test_405_lists_every_method_of_the_path_in_allow(name, path, allow):
    async with client(name) as http:
        response = await http.delete(path)
        assert_problem(response, 405, "method-not-allowed")
        assert response.headers["allow"] == allow


async def test_instance_is_a_uri_reference_with_the_gateway_prefix_never_the_internal_path():
    async with client("housing") as http:
        response = await http.get("/v1/caf\u00e9 x%", headers={"X-Forwarded-Prefix": "/housing"})
        body = assert_problem(response, 404, "not-found")
        assert body["instance"] == "/housing/v1/caf%C3%A9%20x%25"
        assert str(body["instance"]).isascii()
    assert problem_body(500, "x", "/v1/\u0661")["instance"] == "/v1/%D9%A1"


def test_a_cursor_is_signed_and_a_hand_made_one_is_refused():
    cursor = encode_cursor({"id": "b"}, key=b"k1")
    assert decode_cursor(cursor, {"id"}, key=b"k1") == {"id": "b"}
    forged = base64.urlsafe_b64encode(json.dumps({"id": "a"}).encode()).decode().rstrip("=")
    payload, _, mac = cursor.partition(".")
    tampered = base64.urlsafe_b64encode(b'{"id":"a"}').decode().rstrip("=") + "." + mac
    for bad in (forged, tampered, forged + "." + mac, encode_cursor({"id": "b"}, key=b"k2"), payload + ".", "..", "."):
        with pytest.raises(ProblemError) as raised:
            decode_cursor(bad, {"id"}, key=b"k1")
        assert raised.value.status == 400
    with pytest.raises(ProblemError):
        cursor_value(forged, "id")


def test_a_jti_is_compared_in_full():
    prefix = "j" * 200
    assert jti_key(prefix + "a") != jti_key(prefix + "b")
    assert len(jti_key("x" * 10_000)) <= 200
