"""Statistics: a province with person-level access gets no exact figures; periods are calendar periods."""

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
    assert zwartewaterland["working"]["exact"] is False


async def test_periods_are_a_calendar_year_quarter_or_month(stack, http):
    token = await stack.client_token(http, org_type="national", scopes=("registry:statistics",))
    headers = {"Authorization": f"Bearer {token}"}
    for name, start, end in (
        ("2024", "2024-01-01", "2024-12-31"),
        ("2024-Q2", "2024-04-01", "2024-06-30"),
        ("2024-02", "2024-02-01", "2024-02-29"),
    ):
        for path in ("municipalities", "departures"):
            response = await http.get(stack.registry + f"/v1/statistics/{path}?period={name}", headers=headers)
            assert response.status_code == 200, response.text
            assert response.json()["period"] == {"name": name, "from": start, "to": end}
    default = await http.get(stack.registry + "/v1/statistics/municipalities", headers=headers)
    year = date.today().year
    assert default.json()["period"] == {"name": str(year), "from": f"{year}-01-01", "to": f"{year}-12-31"}
    for bad in ("2024-06-01", "2024-Q0", "2024-7", "24"):
        refused = await http.get(stack.registry + f"/v1/statistics/departures?period={bad}", headers=headers)
        assert refused.status_code == 400, bad
        assert refused.headers["content-type"] == "application/problem+json"
        assert [p["name"] for p in refused.json()["invalidParams"]] == ["period"]
