"""The migrations import only the standard library, alembic, sqlalchemy and the kit (lmx_common).

`migrations/` is not a package (each chain is `migrations/<component>/env.py` plus `versions/*.py`,
loaded by Alembic from a path), so import-linter cannot see it; this reads each file's imports with
`ast` instead. A migration that imported a service's models would change when the service changes;
the chain must stay as it was written. Run by `make lint`; exits 1 naming every offending import.

Usage: python tools/check_migration_imports.py [MIGRATIONS_DIR]
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ALLOWED = frozenset(sys.stdlib_module_names) | {"alembic", "sqlalchemy", "lmx_common"}


def imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, top-level module) for every import; a relative import is reported as itself."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, "." * node.level + (node.module or "")


def violations(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, module in imported_modules(tree):
            if module.split(".")[0] not in ALLOWED:
                found.append(f"{path}:{line}: imports {module} (allowed: stdlib, alembic, sqlalchemy, lmx_common)")
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1] / "migrations"
    if not any(root.rglob("*.py")):
        print(f"no migrations found under {root}", file=sys.stderr)
        return 1
    found = violations(root)
    for line in found:
        print(line, file=sys.stderr)
    print(f"migrations: {len(found)} forbidden import(s) under {root}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
