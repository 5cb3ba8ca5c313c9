"""The register of processing activities (GDPR art. 30): why the registry processes a person's data.

Every person-level request names one activity in the ``X-Processing-Activity`` header (ADR 0024).
The activity must exist, must be open to the caller's party type and must cover the action the
request performs; otherwise the request is refused (403) before anything is read or written. The
activity named is the one written on the request's processing-log records, so the log says why
each processing happened, in the caller's own words, checked against this register.

To add an activity or allow an action: change ``REGISTER`` here, then docs/privacy.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from lmx_common.auth import OrganisationType, Principal
from lmx_common.problems import ProblemError

HEADER = "X-Processing-Activity"

# The actions a request (or the registry itself) performs on a person's data; the processing log's
# ``action`` column holds one of them.
ACTIONS = frozenset(
    {
        "create",
        "duplicate-check",  # a create or change refused because the BSN has an active registration
        "read",
        "list",
        "search",
        "update",
        "depart",
        "log-read",  # reading the person's processing log
        "export",  # art. 15: everything about one person
        "erase",  # art. 17
        "restrict",  # art. 18
        "lift-restriction",
        "anonymise",  # retention, by the registry itself
    }
)

_REGISTRARS_WORK = frozenset({"create", "duplicate-check", "read", "list", "search", "update", "depart"})


@dataclass(frozen=True, slots=True)
class Activity:
    name: str
    purpose: str
    legal_basis: str
    party_types: frozenset[OrganisationType]
    """Who may process for this purpose; empty: only the registry itself (a scheduled job)."""
    actions: frozenset[str]


T = OrganisationType
REGISTER: dict[str, Activity] = {
    a.name: a
    for a in (
        Activity(
            "lmx-registration",
            "Registering labour migrants and keeping their registration current, so that the municipality "
            "knows where they work and live (housing task).",
            "GDPR art. 6(1)(e): a task in the public interest of the municipality.",
            frozenset({T.MUNICIPALITY}),
            _REGISTRARS_WORK,
        ),
        Activity(
            "lmx-information-point",
            "Informing and assisting labour migrants at an information point, and registering them on behalf "
            "of the municipalities concerned.",
            "GDPR art. 6(1)(e): a task in the public interest, assigned by the municipalities.",
            frozenset({T.INFORMATION_POINT}),
            _REGISTRARS_WORK,
        ),
        Activity(
            "lmx-consultation",
            "Consulting registrations for the housing and care duties of the municipality, or of a province "
            "or national body with explicit person-level access.",
            "GDPR art. 6(1)(e): a task in the public interest.",
            frozenset({T.MUNICIPALITY, T.PROVINCE, T.NATIONAL, T.INSPECTORATE, T.SERVICE}),
            frozenset({"read", "list", "search"}),
        ),
        Activity(
            "lmx-accountability",
            "Supervising the lawfulness of processing: reading who processed a person's data, when and why.",
            "GDPR art. 5(2) and 6(1)(c): accountability, a legal obligation.",
            frozenset({T.MUNICIPALITY, T.PROVINCE, T.NATIONAL, T.INSPECTORATE}),
            frozenset({"log-read"}),
        ),
        Activity(
            "lmx-subject-rights",
            "Answering a data subject's request: access, rectification, erasure or restriction (GDPR art. 15-18).",
            "GDPR art. 6(1)(c): a legal obligation (GDPR art. 12-19).",
            frozenset({T.MUNICIPALITY}),
            frozenset({"export", "read", "search", "update", "log-read", "erase", "restrict", "lift-restriction"}),
        ),
        Activity(
            "lmx-retention",
            "Anonymising departed registrations after the retention period.",
            "GDPR art. 5(1)(e): storage limitation.",
            frozenset(),
            frozenset({"anonymise"}),
        ),
    )
}

# Activity -> purpose, as the processing log answers it ("why").
PURPOSES: dict[str, str] = {name: a.purpose for name, a in REGISTER.items()}

# What the answer to a data subject's request may do while a registration is restricted.
SUBJECT_RIGHTS = "lmx-subject-rights"


def activity_required() -> ProblemError:
    return ProblemError(
        403,
        f"Name the processing activity of this request in the {HEADER} header "
        f"(one of: {', '.join(sorted(n for n, a in REGISTER.items() if a.party_types))}).",
        slug="processing-activity-required",
    )


def activity_not_allowed(detail: str) -> ProblemError:
    return ProblemError(403, detail, slug="processing-activity-not-allowed")


def check(principal: Principal, activity: str | None, action: str) -> str:
    """The activity if the caller's party type may perform this action for it; else a 403 problem."""
    if not activity:
        raise activity_required()
    entry = REGISTER.get(activity)
    if entry is None or not entry.party_types:
        # The value is not echoed: a detail never carries what a caller may have typed into it.
        raise activity_not_allowed(f"{HEADER} names no processing activity of the register that callers may name.")
    if principal.organisation_type not in entry.party_types:
        raise activity_not_allowed(f"A {principal.organisation_type.value} may not process for {activity}.")
    if action not in entry.actions:
        raise activity_not_allowed(f"{activity} does not cover the action {action}.")
    return activity


def allowed(organisation_type: OrganisationType, activity: str, action: str) -> bool:
    entry = REGISTER.get(activity)
    return entry is not None and organisation_type in entry.party_types and action in entry.actions
