"""Who may see which registration (BOLA). Anything not visible answers 404, as if it did not exist."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, and_, false, or_, true

from lmx_common.auth import OrganisationType, Principal
from lmx_common.events import audience
from lmx_common.problems import forbidden
from lmx_common.reference import municipalities
from lmx_common.scopes import Scope
from services.registry import errors
from services.registry.activities import SUBJECT_RIGHTS
from services.registry.models import Registration

if TYPE_CHECKING:
    from services.registry.schemas import RegistrationCreate

PERSON_LEVEL_SCOPE = Scope.REGISTRY_PERSON_LEVEL
EXACT_STATISTICS_SCOPE = Scope.REGISTRY_STATISTICS_EXACT
REGISTRARS = (OrganisationType.MUNICIPALITY, OrganisationType.INFORMATION_POINT)

# Minimisation: the field sets of a list or search answer, and the party types entitled to each. A
# single registration's read is always the full record (the caller has picked one person).
FIELD_SETS: dict[str, frozenset[OrganisationType]] = {
    "summary": frozenset(OrganisationType),
    "full": frozenset(REGISTRARS),
}


def check_field_set(principal: Principal, field_set: str) -> None:
    if principal.organisation_type not in FIELD_SETS[field_set]:
        raise forbidden(
            f"A {principal.organisation_type.value} receives list and search answers as field set 'summary'; "
            f"'{field_set}' is for " + ", ".join(sorted(t.value for t in FIELD_SETS[field_set])) + "."
        )


def sees_restricted(principal: Principal, activity: str | None) -> bool:
    """A restricted registration (GDPR art. 18) is processed only to answer the data subject's request,
    by the municipality concerned."""
    return principal.organisation_type == OrganisationType.MUNICIPALITY and activity == SUBJECT_RIGHTS


def has_person_level_access(principal: Principal) -> bool:
    """Municipalities and information points work at person level; others need the explicit scope."""
    return principal.organisation_type in REGISTRARS or principal.has_scope(PERSON_LEVEL_SCOPE)


def visible(principal: Principal, activity: str | None = None) -> ColumnElement[bool]:
    """The SQL condition for registrations this caller may see at person level, for this activity."""
    condition = _visible(principal)
    if sees_restricted(principal, activity):
        return condition
    return and_(condition, Registration.restricted_at.is_(None))


def _visible(principal: Principal) -> ColumnElement[bool]:
    kind = principal.organisation_type
    if kind == OrganisationType.MUNICIPALITY and principal.municipality_code:
        code = principal.municipality_code
        return or_(Registration.residence_municipality_code == code, Registration.work_municipality_code == code)
    if kind == OrganisationType.INFORMATION_POINT:
        return Registration.created_by_oin == principal.organisation_oin
    if principal.has_scope(PERSON_LEVEL_SCOPE):
        if kind == OrganisationType.PROVINCE and principal.province_code:
            codes = [m.code for m in municipalities().values() if m.province_code == principal.province_code]
            return or_(
                Registration.residence_municipality_code.in_(codes), Registration.work_municipality_code.in_(codes)
            )
        return true()
    return false()


def may_see(principal: Principal, registration: Registration, activity: str | None = None) -> bool:
    if registration.restricted_at is not None and not sees_restricted(principal, activity):
        return False
    return _may_see(principal, registration)


def _may_see(principal: Principal, registration: Registration) -> bool:
    parties = event_parties(principal)
    if parties:  # a municipality by the municipalities concerned, an information point by who registered
        return audience.entitled(registration_audience(registration), parties)
    if principal.has_scope(PERSON_LEVEL_SCOPE):
        if principal.organisation_type == OrganisationType.PROVINCE and principal.province_code:
            refs = municipalities()
            return any(
                refs[c].province_code == principal.province_code
                for c in (registration.residence_municipality_code, registration.work_municipality_code)
                if c in refs
            )
        return True
    return False


# Events (docs/decisions/0028). A per-registration event goes only to the parties that see the
# registration through their own organisation: the municipalities it lives and works in (when the
# event happens) and the organisation that registered it. Parties that see persons only through the
# registry:person-level scope (a province, a national body) read them through the API, where each read
# is in the processing log; they, and everyone else, receive no per-registration events.


def event_audience(work_municipality_code: str, residence_municipality_code: str, registered_by_oin: str) -> list[str]:
    """The audience of an event about one registration: who may see it, as party keys."""
    return audience.audience(
        audience.municipality(work_municipality_code),
        audience.municipality(residence_municipality_code),
        audience.organisation(registered_by_oin),
    )


def registration_audience(registration: Registration) -> list[str]:
    return event_audience(
        registration.work_municipality_code, registration.residence_municipality_code, registration.created_by_oin
    )


def event_parties(principal: Principal) -> list[str]:
    """A caller's party keys, matched against an event's audience (and, in _may_see, a registration's):
    a municipality by its code, an information point by its OIN; nobody else has any."""
    kind = principal.organisation_type
    if kind == OrganisationType.MUNICIPALITY and principal.municipality_code:
        return [audience.municipality(principal.municipality_code)]
    if kind == OrganisationType.INFORMATION_POINT:
        return [audience.organisation(principal.organisation_oin)]
    return []


def check_may_register(principal: Principal, body: RegistrationCreate) -> None:
    """Registrars only, and a municipality only the migrants who live or work in it."""
    if principal.organisation_type not in REGISTRARS:
        raise errors.may_not_register()
    if principal.organisation_type == OrganisationType.MUNICIPALITY and principal.municipality_code not in (
        body.residence.municipality_code,
        body.work.municipality_code,
    ):
        raise errors.may_not_register()
