"""Domain errors of the certification service, each with its status and problem type."""

from __future__ import annotations

from collections.abc import Sequence

from lmx_common.problems import InvalidParam, ProblemError, invalid_input


def not_found(what: str) -> ProblemError:
    return ProblemError(404, f"No such {what}, or not visible to the caller.", slug="not-found")


def forbidden(detail: str) -> ProblemError:
    return ProblemError(403, detail, slug="forbidden")


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


def invalid(*params: InvalidParam) -> ProblemError:
    return invalid_input(list(params))


def stale(current_etag: str) -> ProblemError:
    return ProblemError(
        412,
        "The resource changed since you read it; read it again.",
        slug="precondition-failed",
        headers={"ETag": current_etag},
    )


def changed_meanwhile(what: str) -> ProblemError:
    return ProblemError(
        409, f"The {what} was changed by another request at the same time; read it and try again.", slug="conflict"
    )
