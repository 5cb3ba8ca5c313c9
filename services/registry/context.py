"""What the service layer needs to know of the request it serves, without any HTTP type."""

from __future__ import annotations

from dataclasses import dataclass

from lmx_common.auth import Principal

NO_TRACE = "0" * 32  # the trace id of work no request caused (the retention job)


@dataclass(frozen=True, slots=True)
class RequestContext:
    """The caller, and the request's trace and transaction ids for the processing log."""

    principal: Principal
    trace_id: str = NO_TRACE
    transaction_id: str | None = None
    activity: str | None = None
