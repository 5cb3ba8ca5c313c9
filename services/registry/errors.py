"""The registry's domain errors, each with its status and problem type."""

from lmx_common.problems import ProblemError


def not_found() -> ProblemError:
    # The same answer whether the registration does not exist or is not visible to the caller.
    return ProblemError(404, "No registration with this id.", slug="not-found")


def may_not_register() -> ProblemError:
    return ProblemError(
        403,
        "Only municipalities and information points register labour migrants; a municipality only those "
        "who live or work in it.",
        slug="forbidden",
    )


def already_registered() -> ProblemError:
    return ProblemError(409, "An active registration for this BSN exists already.", slug="conflict")


def already_departed() -> ProblemError:
    return ProblemError(409, "This registration has departed already.", slug="conflict")


def stale(current: str) -> ProblemError:
    return ProblemError(
        412,
        "The registration changed since you read it; read it again.",
        slug="precondition-failed",
        headers={"ETag": current},
    )


def if_match_required() -> ProblemError:
    return ProblemError(428, "Send If-Match with the ETag of the registration you read.", slug="precondition-required")


def changed_concurrently() -> ProblemError:
    return ProblemError(
        409, "The registration was changed by another request at the same moment; read it again.", slug="conflict"
    )
