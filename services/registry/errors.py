"""The registry's domain errors (the common ones are in lmx_common.problems)."""

from lmx_common.problems import ProblemError, conflict, forbidden


def may_not_register() -> ProblemError:
    return forbidden(
        "Only municipalities and information points register labour migrants; a municipality only those "
        "who live or work in it."
    )


def already_registered() -> ProblemError:
    return conflict("An active registration for this BSN exists already.")


def already_departed() -> ProblemError:
    return conflict("This registration has departed already.")
