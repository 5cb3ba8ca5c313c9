"""A client assertion whose algorithm does not fit the client's key is invalid_client."""

from __future__ import annotations


async def test_an_assertion_whose_algorithm_does_not_fit_the_key_is_invalid_client(stack, http):
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.support.tokens import new_rsa_key

    _, public_pem = new_rsa_key()
    client_id, _ = await stack.register_client(public_key_pem=public_pem)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    assertion = jwt.encode(
        {
            "iss": client_id,
            "sub": client_id,
            "aud": stack.gateway_settings.token_endpoint,
            "exp": 9_999_999_999,
            "jti": "x",
        },
        ec_key,
        algorithm="ES256",
    )
    response = await http.post(
        stack.gateway + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        },
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
