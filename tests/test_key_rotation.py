"""Key rotation: new tokens carry the new kid, tokens signed with the old key work until they expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy import update

from gateway.keys import rotate
from gateway.models import SigningKey
from lmx_common.db import Database
from tests.conftest import assert_problem


async def test_rotation_keeps_old_tokens_valid_until_they_expire(stack, http):
    client_id, secret = await stack.register_client()
    old_token = await stack.token(http, client_id, secret)
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    settings = stack.gateway_settings

    database = Database(stack.database_urls["gateway"])
    try:
        async with database.sessionmaker() as session, session.begin():
            new_key = await rotate(
                session, settings.key_passphrase, settings.token_ttl_seconds, settings.token_leeway_seconds
            )
        new_token = await stack.token(http, client_id, secret)
        assert jwt.get_unverified_header(new_token)["kid"] == new_key.kid != old_kid

        published = {k["kid"] for k in (await http.get(stack.gateway + "/.well-known/jwks.json")).json()["keys"]}
        assert {old_kid, new_key.kid} <= published

        for token in (old_token, new_token):
            headers = {"Authorization": f"Bearer {token}"}
            through = await http.get(stack.gateway + "/registry/v1/municipalities/GM0758", headers=headers)
            assert through.status_code == 200, through.text
            direct = await http.get(stack.housing + "/v1/regions/west-brabant", headers=headers)
            assert direct.status_code == 200, direct.text

        # Once the old key's last token has expired it leaves the JWKS.
        async with database.sessionmaker() as session, session.begin():
            await session.execute(
                update(SigningKey)
                .where(SigningKey.kid == old_kid)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        published = {k["kid"] for k in (await http.get(stack.gateway + "/.well-known/jwks.json")).json()["keys"]}
        assert old_kid not in published and new_key.kid in published

        # A token signed with a key that left the JWKS is refused by a gateway that never saw that key.
        from contextlib import ExitStack

        from tests.support.stack import start_lab_gateway

        with ExitStack() as exits:
            fresh_gateway, _ = start_lab_gateway(exits, stack.database_urls, issuer=settings.issuer)
            refused = await http.get(
                fresh_gateway + "/registry/v1/anything", headers={"Authorization": f"Bearer {old_token}"}
            )
            assert_problem(refused, 401, "unauthorized")
            accepted = await http.get(
                fresh_gateway + "/registry/v1/anything", headers={"Authorization": f"Bearer {new_token}"}
            )
            assert accepted.status_code == 200
    finally:
        await database.dispose()
