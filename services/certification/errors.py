"""The certification service's domain errors; the common ones (not found, forbidden, 412...) are
in lmx_common.problems."""

from __future__ import annotations

from collections.abc import Sequence

from lmx_common.problems import ProblemError


def transition_not_allowed(what: str, current: str, requested: str, allowed: Sequence[str]) -> ProblemError:
    names = ", ".join(allowed) if allowed else "none (final status)"
    return ProblemError(
        409,
        f"A {what} in status {current} cannot move to {requested}; allowed: {names}.",
        slug="conflict",
        extra={"currentStatus": current, "requestedStatus": requested, "allowedStatuses": list(allowed)},
    )


def already_exists(what: str) -> ProblemError:
    return ProblemError(409, f"This {what} already exists.", slug="conflict")
