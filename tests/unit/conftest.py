"""The unit tier runs without a database server or a running stack (`make test-unit`): a test here
that asks for the `backend` or `stack` fixture (directly or through another fixture) belongs in
tests/api, and collection stops with a message saying so."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
NOT_IN_UNIT = {"backend", "stack"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    misplaced = []
    for item in items:
        if HERE in item.path.resolve().parents:
            used = NOT_IN_UNIT & set(getattr(item, "fixturenames", ()))
            if used:
                misplaced.append(f"{item.nodeid} uses {', '.join(sorted(used))}")
    if misplaced:
        found = "\n".join(misplaced)
        raise pytest.UsageError(f"tests/unit needs no database and no stack; move to tests/api:\n{found}")
