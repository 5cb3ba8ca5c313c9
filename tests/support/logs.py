"""Collects the JSON log lines a logger writes."""

from __future__ import annotations

import logging

from lmx_common.logging import JsonFormatter


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter("test"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
