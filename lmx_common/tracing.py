"""W3C Trace Context (traceparent) and transaction ids."""

from __future__ import annotations

import os
import re
import secrets
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

TRANSACTION_HEADER = "x-transaction-id"
# The caller's own span id (its traceparent's parent-id), forwarded by the gateway to the services so
# the processing log can name the caller's operation (Logboek Dataverwerkingen `foreign_operation`).
# The gateway drops any x-lmx-* header a client sends, so the services see only the gateway's value.
CALLER_SPAN_HEADER = "x-lmx-caller-span-id"
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_SPAN_ID = re.compile(r"^[0-9a-f]{16}$")
_TRANSACTION = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# W3C Trace Context: at most 32 list members, 512 characters is what a vendor must propagate.
MAX_TRACESTATE = 512


@dataclass(frozen=True)
class TraceContext:
    trace_id: str
    span_id: str
    flags: str = "01"
    # The span this one is a child of: the caller's span id from its traceparent (None for a new trace).
    parent_span_id: str | None = None
    # The caller's vendor-specific trace state (W3C tracestate), passed on unchanged to the calls made.
    tracestate: str | None = None

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


def new_span_id() -> str:
    return secrets.token_hex(8)


# The trace context of the request (or job run) being served: what its outgoing calls carry on.
trace_context_var: ContextVar[TraceContext | None] = ContextVar("trace_context", default=None)


def child_of(traceparent: str | None, tracestate: str | None = None) -> TraceContext:
    """A new span in the incoming trace, or a new trace when the header is absent or invalid.

    The incoming ``tracestate`` is kept (and passed on) only with a valid ``traceparent``, as W3C
    Trace Context asks; an over-long one is dropped."""
    if traceparent:
        match = _TRACEPARENT.match(traceparent.strip().lower())
        if match and match.group(1) != "0" * 32 and match.group(2) != "0" * 16:
            state = tracestate.strip() if tracestate and len(tracestate) <= MAX_TRACESTATE else None
            return TraceContext(match.group(1), new_span_id(), match.group(3), match.group(2), state or None)
    ids = os.urandom(24).hex()  # one system call for the trace id (16 bytes) and the span id (8)
    return TraceContext(ids[:32], ids[32:])


def transaction_id(incoming: str | None) -> str:
    """Keep a well-formed incoming transaction id, otherwise mint one."""
    if incoming and _TRANSACTION.match(incoming):
        return incoming
    return str(uuid.uuid4())


def span_id_or_none(value: str | None) -> str | None:
    """A well-formed, non-zero span id (16 lowercase hex digits) as sent, otherwise None."""
    if value and _SPAN_ID.match(value) and value != "0" * 16:
        return value
    return None
