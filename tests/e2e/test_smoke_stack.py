from tests.conftest import assert_problem


async def test_service_call_through_gateway(stack, http):
    token = await stack.client_token(http)
    response = await http.get(
        stack.gateway + "/registry/v1/municipalities/GM1655", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Halderberge"


async def test_no_token_is_401(stack, http):
    assert_problem(await http.get(stack.gateway + "/registry/v1/municipalities"), 401, "unauthorized")
