"""Concurrent creations for one BSN give one registration."""

from __future__ import annotations

import asyncio

from tests.support.db import scalar
from tests.support.registrations import make_registration

BOTH = ("registry:read", "registry:write")


async def test_concurrent_creations_for_one_bsn_give_one_registration(stack, http):
    token = await stack.client_token(http, org_type="information-point", scopes=BOTH)
    headers = {"Authorization": f"Bearer {token}"}
    body = make_registration()
    responses = await asyncio.gather(
        *(http.post(stack.registry + "/v1/registrations", json=body, headers=headers) for _ in range(6))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1 and set(statuses[1:]) == {409}, [r.text for r in responses]
    created = next(r for r in responses if r.status_code == 201).json()["id"]
    count = await scalar(
        stack.database_urls["registry"],
        "SELECT count(*) FROM registrations WHERE status = 'active' "
        "AND bsn_pseudonym = (SELECT bsn_pseudonym FROM registrations WHERE id = :id)",
        id=created,
    )
    assert count == 1
