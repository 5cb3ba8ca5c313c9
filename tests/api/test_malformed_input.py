"""Malformed input (deep nesting, huge numbers, huge CSV fields, cursors of the wrong shape) is a 400,
never a 500."""

from __future__ import annotations

import base64
import json

from tests.conftest import assert_problem
from tests.support.registrations import make_registration

BOTH = ("registry:read", "registry:write")


async def test_malformed_input_is_400_never_500(stack, http):
    token = await stack.client_token(http, scopes=BOTH, municipality_code="GM1655")
    headers = {"Authorization": f"Bearer {token}"}
    api = stack.registry + "/v1"
    created = (await http.post(api + "/registrations", json=make_registration(), headers=headers)).json()
    url = f"{api}/registrations/{created['id']}"
    patch_headers = headers | {"Content-Type": "application/merge-patch+json", "If-Match": '"1"'}
    for body in ('{"expectedEndDate": ' + "9" * 5000 + "}", "[" * 100_000):
        assert_problem(await http.patch(url, content=body, headers=patch_headers), 400, "invalid-input")
    ndjson = "\n".join(
        ["[" * 100_000, '{"a": ' + "9" * 5000 + "}", json.dumps(make_registration(**{"person.givenNames": "A\u2028B"}))]
    )
    bulk = await http.post(
        api + "/registrations/bulk", content=ndjson.encode(), headers=headers | {"Content-Type": "application/x-ndjson"}
    )
    assert bulk.status_code == 200, bulk.text
    assert [r["status"] for r in bulk.json()["results"]] == ["invalid", "invalid", "created"]
    huge_csv = "bsn,givenNames\n1," + '"' + "x" * 200_000 + '"\n'
    assert_problem(
        await http.post(api + "/registrations/bulk", content=huge_csv, headers=headers | {"Content-Type": "text/csv"}),
        400,
    )

    def cursor(value) -> str:
        return base64.urlsafe_b64encode(json.dumps({"id": value}).encode()).decode().rstrip("=")

    assert_problem(await http.get(api + f"/registrations?cursor={cursor([1])}", headers=headers), 400)
    log = f"{api}/processing-log?registrationId={created['id']}&cursor="
    assert_problem(await http.get(log + cursor("abc"), headers=headers), 400)
    assert_problem(await http.get(log + cursor([1]), headers=headers), 400)
