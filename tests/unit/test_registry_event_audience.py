"""Who receives a registration's events is who may see the registration through its own organisation
(services/registry/visibility.py, docs/decisions/0028): one rule for reads and events."""

from __future__ import annotations

import itertools

import pytest

from lmx_common.auth import OrganisationType, Principal
from lmx_common.events.audience import entitled
from services.registry.models import Registration
from services.registry.visibility import event_audience, event_parties, may_see, registration_audience

POINT, OTHER_POINT = "00000001000000000001", "00000001000000000002"


def principal(kind: OrganisationType, *scopes: str, municipality: str | None = None, oin: str = POINT) -> Principal:
    return Principal(
        client_id="c",
        organisation_oin=oin,
        organisation_type=kind,
        scopes=frozenset(scopes),
        token_id="t",
        expires_at=0,
        municipality_code=municipality,
        province_code="PV30" if kind == OrganisationType.PROVINCE else None,
    )


CALLERS = [
    principal(OrganisationType.MUNICIPALITY, municipality="GM1709"),
    principal(OrganisationType.MUNICIPALITY, municipality="GM1719"),
    principal(OrganisationType.MUNICIPALITY, municipality="GM0363"),
    principal(OrganisationType.MUNICIPALITY),  # no code: sees nobody, receives nothing
    principal(OrganisationType.INFORMATION_POINT),
    principal(OrganisationType.INFORMATION_POINT, oin=OTHER_POINT),
    principal(OrganisationType.PROVINCE, "registry:person-level"),
    principal(OrganisationType.NATIONAL, "registry:person-level"),
    principal(OrganisationType.NATIONAL, "registry:statistics"),
    principal(OrganisationType.INSPECTORATE, "events:read"),
    principal(OrganisationType.CERTIFIER, "events:read"),
    principal(OrganisationType.SERVICE, "events:read"),
]
REGISTRATIONS = [
    Registration(work_municipality_code=w, residence_municipality_code=r, created_by_oin=o, restricted_at=None)
    for w, r, o in itertools.product(("GM1709", "GM0363"), ("GM1719", "GM1709"), (POINT, OTHER_POINT))
]


@pytest.mark.parametrize("caller", CALLERS, ids=lambda p: f"{p.organisation_type.value}-{p.municipality_code}")
def test_an_event_goes_to_a_caller_only_if_it_sees_the_registration_through_its_organisation(caller):
    for registration in REGISTRATIONS:
        receives = entitled(registration_audience(registration), event_parties(caller))
        if receives:
            assert may_see(caller, registration)  # never an event about someone the caller cannot see
        if caller.organisation_type in (OrganisationType.MUNICIPALITY, OrganisationType.INFORMATION_POINT):
            assert receives == may_see(caller, registration)


def test_only_municipalities_and_information_points_have_parties():
    assert event_parties(CALLERS[0]) == ["municipality:GM1709"]
    assert event_parties(CALLERS[4]) == [f"oin:{POINT}"]
    for caller in [*CALLERS[6:], CALLERS[3]]:
        assert event_parties(caller) == []
        assert not any(entitled(registration_audience(r), event_parties(caller)) for r in REGISTRATIONS)


def test_an_audience_is_the_municipalities_concerned_and_the_registering_organisation():
    assert event_audience("GM1709", "GM1719", POINT) == ["municipality:GM1709", "municipality:GM1719", f"oin:{POINT}"]
    assert event_audience("GM1709", "GM1709", POINT) == ["municipality:GM1709", f"oin:{POINT}"]
    assert entitled(None, [])  # an event without audience (certification): every events:read client
    assert not entitled([], ["oin:x"])
