"""What the service layer needs to know of the request it serves, without any HTTP type."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lmx_common.auth import Principal

NO_TRACE = "0" * 32  # the trace id of work no request caused (the retention job)


@dataclass(frozen=True, slots=True)
class RequestContext:
    """The caller, and the request's trace and transaction ids for the processing log.

    The trace fields follow Logboek Dataverwerkingen (docs/decisions/0023): ``span_id`` is this
    request's operation in the registry, ``parent_span_id`` the operation that called it (the
    gateway's span), ``foreign_span_id`` the calling organisation's own span (its traceparent, passed
    on by the gateway), ``started_at`` when the registry began serving the request."""

    principal: Principal
    trace_id: str = NO_TRACE
    transaction_id: str | None = None
    # The processing activity (register of processing activities) the caller declared; None: the
    # action's default (processing_log.ACTIVITY_FOR_ACTION).
    activity: str | None = None
    span_id: str | None = None
    parent_span_id: str | None = None
    foreign_span_id: str | None = None
    started_at: datetime | None = None
