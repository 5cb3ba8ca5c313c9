"""The status machines and who may see what: pure rules, no I/O."""

from __future__ import annotations

from lmx_common.auth import OrganisationType, Principal

CERTIFICATE_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "applied": ("provisional", "granted", "refused"),
    "provisional": ("granted", "revoked", "refused"),
    "granted": ("suspended", "revoked", "ended", "expired"),
    "suspended": ("granted", "revoked"),
    "revoked": (),
    "refused": (),
    "ended": (),
    "expired": (),
}

REPORT_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "received": ("investigating",),
    "investigating": ("referred", "resolved", "unfounded"),
    "referred": (),
    "resolved": (),
    "unfounded": (),
}
OPEN_REPORT_STATUSES = ("received", "investigating")

# Reading report details: the inspectorate and certifiers always; municipalities for their own
# municipality; anyone for the reports their organisation filed.
SEES_ALL_REPORTS = frozenset({OrganisationType.INSPECTORATE, OrganisationType.CERTIFIER})


def may_see_report(principal: Principal, municipality_code: str, reporter_oin: str) -> bool:
    if principal.organisation_type in SEES_ALL_REPORTS:
        return True
    if reporter_oin == principal.organisation_oin:
        return True
    return (
        principal.organisation_type == OrganisationType.MUNICIPALITY
        and principal.municipality_code is not None
        and principal.municipality_code == municipality_code
    )


def may_follow_up(principal: Principal, municipality_code: str) -> bool:
    if principal.organisation_type in SEES_ALL_REPORTS:
        return True
    return principal.organisation_type == OrganisationType.MUNICIPALITY and principal.municipality_code == (
        municipality_code
    )
