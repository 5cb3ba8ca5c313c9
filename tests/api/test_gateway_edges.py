"""The gateway's edges (issue 15, item 6): one API version everywhere, no internal address in a
redirect, a trailing slash refused, and 406 for an Accept the API cannot serve."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from lmx_common.version import API_VERSION
from tests.conftest import assert_problem
from tests.support.stack import start_lab_gateway


@pytest.fixture(scope="module")
def lab(backend):
    with ExitStack() as exits:
        url, echo = start_lab_gateway(exits, backend.urls)
        yield url, echo


async def test_api_version_equals_info_version_for_all_four_components(stack, http):
    documents = {
        "gateway": stack.gateway + "/openapi.json",
        "registry": stack.gateway + "/registry/v1/openapi.json",
        "certification": stack.gateway + "/certification/v1/openapi.json",
        "housing": stack.gateway + "/housing/v1/openapi.json",
    }
    for component, url in documents.items():
        response = await http.get(url)
        assert response.status_code == 200, (component, response.text)
        assert response.headers["api-version"] == response.json()["info"]["version"] == API_VERSION, component
    # The gateway's own answers (a problem it sends itself) and a proxied one carry the same version.
    own = await http.get(stack.gateway + "/registry/v1/no-such-thing")
    assert own.headers["api-version"] == API_VERSION
    for direct in (stack.registry, stack.certification, stack.housing):
        response = await http.get(direct + "/v1/openapi.json")
        assert response.headers["api-version"] == response.json()["info"]["version"] == API_VERSION


async def test_a_trailing_slash_is_a_404_problem_without_a_location(stack, http):
    token = await stack.client_token(http, scopes=("registry:read",))
    response = await http.get(
        stack.gateway + "/registry/v1/municipalities/", headers={"Authorization": f"Bearer {token}"}
    )
    body = assert_problem(response, 404, "not-found")
    assert "location" not in response.headers
    assert "/registry/v1/municipalities" in body["detail"]  # names the path without the slash
    assert "127.0.0.1:" not in response.text


async def test_an_upstream_location_at_its_internal_address_is_rewritten_to_the_public_path(stack, http, lab):
    url, echo = lab
    client_id, secret = await stack.register_client(scopes=("registry:read",))
    token = await stack.token(http, client_id, secret, gateway=url)
    response = await http.get(url + "/registry/v1/redirect", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 307, response.text
    assert response.headers["location"] == "/registry/v1/elsewhere?a=1"
    assert echo not in response.text + str(response.headers)
    # A Location of another kind (already public, or elsewhere) is passed as it is.
    response = await http.get(url + "/registry/v1/redirect-public", headers={"Authorization": f"Bearer {token}"})
    assert response.headers["location"] == "/registry/v1/elsewhere"


@pytest.mark.parametrize(
    "accept",
    [
        "application/xml",
        "text/html",
        "application/json;q=0",
        "application/xml, application/json;q=0.0, */*;q=0",
        "image/*",
    ],
)
async def test_an_accept_the_api_cannot_serve_is_406(stack, http, accept):
    token = await stack.client_token(http, scopes=("registry:read",))
    response = await http.get(
        stack.gateway + "/registry/v1/municipalities",
        headers={"Authorization": f"Bearer {token}", "Accept": accept},
    )
    body = assert_problem(response, 406, "not-acceptable")
    assert "application/json" in body["detail"]


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "*/*",
        "application/*",
        "application/json",
        "application/problem+json",
        "APPLICATION/JSON; charset=utf-8",
        "application/xml, application/json;q=0.5",
        "text/html;q=0.9, */*;q=0.1",
    ],
)
async def test_an_accept_the_api_can_serve_passes(stack, http, accept):
    token = await stack.client_token(http, scopes=("registry:read",))
    headers = {"Authorization": f"Bearer {token}"}
    if accept is not None:
        headers["Accept"] = accept
    async with __import__("httpx").AsyncClient(timeout=15) as bare:  # httpx adds Accept: */* by default
        if accept is None:
            bare.headers.pop("accept", None)
        response = await bare.get(stack.gateway + "/registry/v1/municipalities", headers=headers)
    assert response.status_code == 200, response.text
