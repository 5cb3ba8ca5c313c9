"""Property-based API tests: schemathesis against every service's published OpenAPI, through the gateway.

For each service the document is loaded from the gateway (`/<service>/v1/openapi.json`) and every
operation is called with generated requests — valid and invalid (`mode: all`) — through the gateway
with a token that holds every scope. Each answer must be no 5xx, have a documented status code and
content type, and match the documented schema. Generation is bounded and derandomised, so a run is
stable and takes about a minute and a half on two cores (docs/decisions/0009-testing.md).

The stack is this module's own: fresh SQLite databases, so the generated writes (registrations,
locations, webhook subscriptions, ...) never meet the data of the other API tests on the shared stack.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.engine import Status, events

from lmx_cli.reference import load_all
from lmx_common.migrations import DATABASES, upgrade
from lmx_common.scopes import Scope
from tests.support.registrations import make_registration
from tests.support.stack import Stack, start_stack

SEED = 20260601
# Generated cases per operation in the fuzzing phase; the examples and coverage phases add their own
# (the documents' examples; boundary values and unexpected methods), about 3,600 requests in all.
MAX_EXAMPLES = 40
ALL_SCOPES = tuple(scope.value for scope in Scope)
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance")


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole stack on fresh SQLite databases, for this module alone."""
    folder: Path = tmp_path_factory.mktemp("schemathesis")
    urls = {component: f"sqlite+aiosqlite:///{folder}/{component}.db" for component in DATABASES}
    for component, url in urls.items():
        upgrade(component, url)
    asyncio.run(load_all(urls))
    with ExitStack() as exits:
        yield start_stack(exits, urls)


def token_with_every_scope(stack: Stack, org_type: str) -> str:
    client_id, secret = asyncio.run(stack.register_client(org_type, ALL_SCOPES, municipality_code="GM1655"))
    response = httpx.post(
        stack.gateway + "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret or "")
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def seeded_registration(stack: Stack, token: str) -> str:
    """A registration of GM1655, so the operations on `{registrationId}` meet one that exists."""
    response = httpx.post(
        stack.gateway + "/registry/v1/registrations",
        json=make_registration(**{"residence.municipalityCode": "GM1655"}),
        headers={"Authorization": f"Bearer {token}", "X-Processing-Activity": "lmx-registration"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def load_schema(stack: Stack, service: str, token: str, parameters: dict[str, str] | None = None) -> Any:
    base_url = f"{stack.gateway}/{service}/v1"  # the document's first server: its paths are below it
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "base-url": base_url,
            "headers": {"Authorization": f"Bearer {token}"},
            "request-timeout": 15,
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
            "checks": {"enabled": False} | {name: {"enabled": True} for name in CHECKS},
            "parameters": parameters or {},
        }
    )
    return schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=config)


@dataclass(frozen=True)
class KnownFinding:
    """A failure that is someone else's open fix: tolerated here, listed in the test's output."""

    check: str
    message_parts: tuple[str, ...]
    why: str
    operations: str = ""  # a substring of the operation label ("GET /registrations/..."); empty: every operation

    def matches(self, label: str, check: str, message: str) -> bool:
        return check == self.check and self.operations in label and all(part in message for part in self.message_parts)


# Findings tolerated while their fix is elsewhere; none now (the problem `instance` is percent-encoded
# since the input-edges work). Add an entry only with the request that shows it and an issue to fix it.
KNOWN_FINDINGS: tuple[KnownFinding, ...] = ()


@dataclass
class Outcome:
    requests: Counter[str] = field(default_factory=Counter)
    failures: dict[tuple[str, str, str], str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    tolerated: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    succeeded: set[str] = field(default_factory=set)  # operations that answered a 2xx at least once
    # Operations whose request got past validation at least once: a 2xx, or a 404 for an unknown id in
    # the path (the request was well-formed; no resource of that id exists or is visible).
    reached: set[str] = field(default_factory=set)


def shorten(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more characters)"


def record(outcome: Outcome, recorder: Any) -> None:
    """One scenario's requests, statuses and check failures (known findings counted apart)."""
    label = recorder.label
    outcome.requests[label] += len(recorder.interactions)
    for interaction in recorder.interactions.values():
        if interaction.response is not None:
            outcome.statuses[interaction.response.status_code] += 1
            if 200 <= interaction.response.status_code < 300:
                outcome.succeeded.add(label)
                outcome.reached.add(label)
            elif interaction.response.status_code == 404 and "{" in label:
                outcome.reached.add(label)
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.status == Status.ERROR:
                outcome.errors.append(f"{label}: check {check.name} crashed")
            if check.status != Status.FAILURE or check.failure_info is None:
                continue
            failure = check.failure_info.failure
            known = [k for k in KNOWN_FINDINGS if k.matches(label, check.name, failure.message)]
            if known:
                outcome.tolerated[known[0].why] += 1
                continue
            answered = recorder.interactions.get(case_id)
            answer = ""
            if answered is not None and answered.response is not None:
                answer = f"-> {answered.response.status_code} {answered.response.content[:400]!r}"
            outcome.failures.setdefault(
                (label, check.name, failure.title),
                f"{failure.message}\n{shorten(check.failure_info.code_sample)}\n{answer}",
            )


def run(schema: Any) -> Outcome:
    outcome = Outcome()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            record(outcome, event.recorder)
        elif isinstance(event, events.NonFatalError):
            outcome.errors.append(f"{event.label}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            outcome.errors.append(f"fatal: {event.exception!r}")
    return outcome


def report(outcome: Outcome) -> str:
    lines = [f"{len(outcome.failures)} failure(s), {len(outcome.errors)} error(s)"]
    for (label, check, title), detail in sorted(outcome.failures.items()):
        lines.append(f"\n[{check}] {label}: {title}\n{detail}")
    lines += outcome.errors
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("service", "org_type"),
    [
        ("registry", "municipality"),
        # A certifier: the organisation and certificate writes are for certifiers only.
        ("certification", "certifier"),
        ("housing", "municipality"),
    ],
)
def test_service_answers_as_its_openapi_document_says(fuzz_stack, service, org_type):
    token = token_with_every_scope(fuzz_stack, org_type)
    pinned = {"path.registrationId": seeded_registration(fuzz_stack, token)} if service == "registry" else {}
    schema = load_schema(fuzz_stack, service, token, pinned)
    started = time.monotonic()
    outcome = run(schema)
    elapsed = time.monotonic() - started
    print(
        f"{service}: {sum(outcome.requests.values())} requests over {len(outcome.requests)} operations "
        f"in {elapsed:.0f} s; statuses {sorted(outcome.statuses.items())}; 2xx from {len(outcome.succeeded)}, "
        f"past validation {len(outcome.reached)} "
        f"operations; known findings tolerated: {dict(outcome.tolerated)}"
    )
    assert not outcome.failures and not outcome.errors, report(outcome)
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert labels == set(outcome.requests), f"never called: {labels - set(outcome.requests)}"
    # The harness itself works: the token is accepted, and most operations got past validation at least once.
    assert 401 not in outcome.statuses, outcome.statuses
    assert len(outcome.reached) * 2 >= len(labels), f"never past validation: {sorted(labels - outcome.reached)}"
    assert len(outcome.succeeded) * 3 >= len(labels), f"no 2xx from {sorted(labels - outcome.succeeded)}"


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


@pytest.mark.parametrize("service", ["registry", "certification", "housing"])
def test_every_reference_in_the_published_document_resolves(fuzz_stack, service):
    """A dangling `$ref` makes an operation impossible to generate for, and to call from a generated client."""
    document = httpx.get(f"{fuzz_stack.gateway}/{service}/v1/openapi.json").json()
    dangling = []
    for reference in set(_references(document)):
        node: Any = document
        for part in reference.removeprefix("#/").split("/"):
            node = node.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(node, dict) else None
        if not reference.startswith("#/") or node is None:
            dangling.append(reference)
    assert not dangling, dangling
