"""The registry's domain errors (the common ones are in lmx_common.problems)."""

from lmx_common.problems import ProblemError, conflict, forbidden


def may_not_register() -> ProblemError:
    return forbidden(
        "Only municipalities and information points register labour migrants; a municipality only those "
        "who live or work in it."
    )


def already_registered() -> ProblemError:
    # Says only that one exists: not where, by whom or its id (docs/privacy.md, "Disclosures"); the
    # disclosure is logged against the matched registration (action duplicate-check).
    return conflict("An active registration for this BSN exists already.")


def already_departed() -> ProblemError:
    return conflict("This registration has departed already.")


def already_erased() -> ProblemError:
    return conflict("This registration's personal data has been erased or anonymised already.")


def already_restricted() -> ProblemError:
    return conflict("The processing of this registration is restricted already.")


def not_restricted() -> ProblemError:
    return conflict("The processing of this registration is not restricted.")
