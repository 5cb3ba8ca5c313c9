"""Structured JSON logs. Log records carry ids and codes, never personal data.

Exception messages are never written (they can quote request data); only the exception type and
the frames (file, line, function) are.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

transaction_id_var: ContextVar[str | None] = ContextVar("transaction_id", default=None)
trace_id_var: ContextVar[str | None] = ContextVar("trace_id", default=None)
client_id_var: ContextVar[str | None] = ContextVar("client_id", default=None)

# Attributes a LogRecord always has; everything else passed via `extra=` is emitted as a field.
QUIET_LIBRARIES = ("aiosqlite", "sqlalchemy", "asyncpg", "httpcore", "httpx", "aiohttp", "alembic.runtime")
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "component": self.component,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, var in (("transactionId", transaction_id_var), ("traceId", trace_id_var), ("clientId", client_id_var)):
            value = var.get()
            if value:
                entry[key] = value
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key != "color_message":
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, _exc, tb = record.exc_info
            entry["errorType"] = exc_type.__name__
            # Frames only (file, line, function): neither the message nor source text, which can quote data.
            entry["stack"] = [f"{f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_tb(tb)]
        return json.dumps(entry, default=str, separators=(",", ":"))


def configure_logging(component: str, level: str = "INFO") -> None:
    """Send every logger, uvicorn's included, through one JSON handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(component))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # Libraries that print SQL parameters or request details at DEBUG never log below WARNING:
    # a debug switch must not put personal data in the logs.
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    # uvicorn's access log prints the full URL including the query string; ours does not.
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = False
    access.disabled = True
