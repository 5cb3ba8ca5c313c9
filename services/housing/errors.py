"""The housing service's domain errors; the common ones (not found, forbidden, 412...) are in
lmx_common.problems."""

from lmx_common.problems import ProblemError, unavailable


def no_figures(detail: str) -> ProblemError:
    """The registry's figures, which this report needs, cannot be read now."""
    return unavailable(detail, retry_after=30)
