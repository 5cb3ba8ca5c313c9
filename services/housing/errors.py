"""The housing service's domain errors, each with its status and problem type."""

from lmx_common.problems import InvalidParam, ProblemError, invalid_input


def not_found(what: str) -> ProblemError:
    return ProblemError(404, f"No {what} with this id.", slug="not-found")


def forbidden(detail: str) -> ProblemError:
    return ProblemError(403, detail, slug="forbidden")


def conflict(detail: str) -> ProblemError:
    return ProblemError(409, detail, slug="conflict")


def invalid(*params: InvalidParam) -> ProblemError:
    return invalid_input(list(params))


def stale(current: str) -> ProblemError:
    return ProblemError(
        412,
        "The resource changed since you read it; read it again.",
        slug="precondition-failed",
        headers={"ETag": current},
    )


def if_match_required() -> ProblemError:
    return ProblemError(428, "Send If-Match with the ETag of the resource you read.", slug="precondition-required")


def no_figures(detail: str) -> ProblemError:
    return ProblemError(503, detail, slug="service-unavailable", headers={"Retry-After": "30"})
