"""Dot segments in a path cannot steer around the gateway's scope check."""

from __future__ import annotations

from tests.conftest import assert_problem


async def test_dot_segments_cannot_steer_around_the_scope_check(stack, http):
    token = await stack.client_token(http, org_type="national", scopes=("registry:statistics",))
    headers = {"Authorization": f"Bearer {token}"}
    for path in (
        "/registry/v1/statistics/%2e%2e/processing-log?registrationId=x",
        "/registry/v1/statistics/%2E%2E/registrations",
        "/registry/v1/statistics%2f..%2fregistrations",
    ):
        response = await http.get(stack.gateway + path, headers=headers)
        assert_problem(response, 400, "invalid-input")
