"""The register of processing activities, and what the processing log writes for a scheduled job."""

from __future__ import annotations

from typing import Any

import pytest

from lmx_common.auth import OrganisationType, Principal
from lmx_common.problems import ProblemError
from services.registry import activities, processing_log, repository
from services.registry.context import NO_TRACE, RequestContext


def principal(kind: OrganisationType) -> Principal:
    return Principal(
        client_id="c",
        organisation_oin="00000099000000000042",
        organisation_type=kind,
        scopes=frozenset(),
        token_id="t",
        expires_at=2**31,
    )


def test_every_activity_states_a_purpose_a_legal_basis_and_known_actions():
    for activity in activities.REGISTER.values():
        assert activity.purpose and activity.legal_basis
        assert activity.actions <= activities.ACTIONS, activity.name
    assert processing_log.ACTIVITIES == activities.PURPOSES
    # Every action a request performs is covered by some activity a caller may name.
    callable_actions = {a for act in activities.REGISTER.values() if act.party_types for a in act.actions}
    assert callable_actions == activities.ACTIONS - {"anonymise"}


@pytest.mark.parametrize(
    ("kind", "activity", "action", "slug"),
    [
        (OrganisationType.MUNICIPALITY, None, "read", "processing-activity-required"),
        (OrganisationType.MUNICIPALITY, "", "read", "processing-activity-required"),
        (OrganisationType.MUNICIPALITY, "made-up", "read", "processing-activity-not-allowed"),
        (OrganisationType.MUNICIPALITY, "lmx-retention", "anonymise", "processing-activity-not-allowed"),
        (OrganisationType.INFORMATION_POINT, "lmx-registration", "read", "processing-activity-not-allowed"),
        (OrganisationType.INFORMATION_POINT, "lmx-consultation", "read", "processing-activity-not-allowed"),
        (OrganisationType.CERTIFIER, "lmx-consultation", "read", "processing-activity-not-allowed"),
        (OrganisationType.NATIONAL, "lmx-consultation", "update", "processing-activity-not-allowed"),
        (OrganisationType.INFORMATION_POINT, "lmx-subject-rights", "export", "processing-activity-not-allowed"),
    ],
)
def test_refusals(kind, activity, action, slug):
    with pytest.raises(ProblemError) as refused:
        activities.check(principal(kind), activity, action)
    assert (refused.value.status, refused.value.slug) == (403, slug)
    assert "made-up" not in refused.value.detail


@pytest.mark.parametrize(
    ("kind", "activity", "action"),
    [
        (OrganisationType.MUNICIPALITY, "lmx-registration", "create"),
        (OrganisationType.MUNICIPALITY, "lmx-consultation", "list"),
        (OrganisationType.MUNICIPALITY, "lmx-subject-rights", "erase"),
        (OrganisationType.INFORMATION_POINT, "lmx-information-point", "read"),
        (OrganisationType.PROVINCE, "lmx-consultation", "search"),
        (OrganisationType.NATIONAL, "lmx-accountability", "log-read"),
    ],
)
def test_allowed(kind, activity, action):
    assert activities.check(principal(kind), activity, action) == activity


async def test_a_request_logs_its_activity_and_a_job_the_registrys_oin_and_a_new_trace(monkeypatch):
    written: list[list[tuple[Any, ...]]] = []

    async def insert(_session: Any, rows: list[tuple[Any, ...]]) -> None:
        written.append(rows)

    monkeypatch.setattr(repository, "insert_processing_log", insert)
    monkeypatch.setenv("REGISTRY_ORGANISATION_OIN", "00000001234567890000")
    who = principal(OrganisationType.INFORMATION_POINT)
    context = RequestContext(who, trace_id="a" * 32, activity="lmx-information-point")
    await processing_log.record(None, context, who, "read", ["r1"])  # type: ignore[arg-type]
    await processing_log.record(None, None, None, "anonymise", ["r1", "r2"])  # type: ignore[arg-type]
    await processing_log.record(None, None, None, "anonymise", ["r3"])  # type: ignore[arg-type]
    (read,), job, next_job = written
    assert read[1:5] == ("a" * 32, None, "lmx-information-point", "read")
    assert {row[3:6] for row in job} == {("lmx-retention", "anonymise", "00000001234567890000")}
    traces = {row[1] for row in job} | {next_job[0][1]}
    assert len(traces) == 2 and NO_TRACE not in traces  # one new trace per run
