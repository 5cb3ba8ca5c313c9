"""Statistics: a province with person-level access gets exact figures only for itself; a period with
only an end starts in that year."""

from __future__ import annotations

from datetime import date

from tests.support.registrations import make_registration

BOTH = ("registry:read", "registry:write")


async def test_a_province_with_person_level_access_gets_exact_figures_only_for_itself(stack, http):
    token = await stack.client_token(
        http, org_type="province", province_code="PV20", scopes=("registry:statistics", "registry:person-level")
    )
    mip = await stack.client_token(http, org_type="information-point", scopes=BOTH)
    body = make_registration(**{"residence.municipalityCode": "GM1896", "work.municipalityCode": "GM1896"})
    await http.post(stack.registry + "/v1/registrations", json=body, headers={"Authorization": f"Bearer {mip}"})
    response = await http.get(
        stack.registry + "/v1/statistics/municipalities?provinceCode=PV23", headers={"Authorization": f"Bearer {token}"}
    )
    zwartewaterland = next(i for i in response.json()["items"] if i["municipalityCode"] == "GM1896")
    assert zwartewaterland["working"]["suppressed"] is True


async def test_a_period_with_only_an_end_starts_in_that_year(stack, http):
    token = await stack.client_token(http, org_type="national", scopes=("registry:statistics",))
    response = await http.get(
        stack.registry + "/v1/statistics/municipalities?provinceCode=PV29&periodTo=2024-06-01",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["period"] == {"from": "2024-01-01", "to": "2024-06-01"}
    later = date.today().replace(year=date.today().year + 1).isoformat()
    ahead = await http.get(
        stack.registry + f"/v1/statistics/municipalities?provinceCode=PV29&periodFrom={later}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert ahead.status_code == 200 and ahead.json()["period"]["from"] == later
