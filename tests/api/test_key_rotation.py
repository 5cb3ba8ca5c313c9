"""Key rotation: new tokens carry the new kid, tokens signed with the old key work until they expire."""

from __future__ import annotations

import asyncio
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

        from contextlib import ExitStack

        from tests.support.stack import start_lab_gateway

        with ExitStack() as exits:
            # A gateway that keeps its key cache for half a second.
            lab, _ = start_lab_gateway(exits, stack.database_urls, issuer=settings.issuer, key_cache_seconds=0.5)
            old_headers = {"Authorization": f"Bearer {old_token}"}
            assert (await http.get(lab + "/registry/v1/anything", headers=old_headers)).status_code == 200

            # Once the old key's last token has expired it leaves the JWKS ...
            async with database.sessionmaker() as session, session.begin():
                await session.execute(
                    update(SigningKey)
                    .where(SigningKey.kid == old_kid)
                    .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
                )
            jwks = (await http.get(stack.gateway + "/.well-known/jwks.json")).json()
            published = {k["kid"] for k in jwks["keys"]}
            assert old_kid not in published and new_key.kid in published

            # ... and a gateway that had it cached stops accepting it once its cache is re-read.
            await asyncio.sleep(0.6)
            refused = await http.get(lab + "/registry/v1/anything", headers=old_headers)
            assert_problem(refused, 401, "unauthorized")
            accepted = await http.get(lab + "/registry/v1/anything", headers={"Authorization": f"Bearer {new_token}"})
            assert accepted.status_code == 200
    finally:
        await database.dispose()
