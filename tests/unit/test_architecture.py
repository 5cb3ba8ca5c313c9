"""The architecture contracts of `make lint` catch a breach: lint-imports (pyproject's
[tool.importlinter]) on a copy of the tree passes as it is and fails once a registry module imports the
certification service or the kit imports the gateway; the migrations check fails on a service import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("lmx_common", "gateway", "services", "lmx_cli")
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """The packages, the migrations and the lint configuration, copied."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in (*PACKAGES, "migrations", "tools"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(tree)}
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache", "--config", "pyproject.toml"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def add_import(module: Path, statement: str) -> None:
    module.write_text(module.read_text(encoding="utf-8") + f"\n{statement}\n", encoding="utf-8")


def test_the_unmodified_tree_keeps_every_contract(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_a_registry_module_importing_the_certification_service_breaks_independence(tree: Path) -> None:
    add_import(tree / "services" / "registry" / "service.py", "import services.certification  # noqa")
    result = lint_imports(tree)
    assert result.returncode != 0, result.stdout
    assert "The services are independent of each other" in result.stdout
    assert "services.registry.service -> services.certification" in result.stdout


def test_the_kit_importing_the_gateway_is_forbidden(tree: Path) -> None:
    add_import(tree / "lmx_common" / "db.py", "import gateway.config  # noqa")
    result = lint_imports(tree)
    assert result.returncode != 0, result.stdout
    assert "lmx_common.db -> gateway.config" in result.stdout


def test_a_migration_importing_a_service_fails_the_migrations_check(tree: Path) -> None:
    check = [sys.executable, str(tree / "tools" / "check_migration_imports.py"), str(tree / "migrations")]
    assert subprocess.run(check, capture_output=True, text=True, check=False).returncode == 0
    version = sorted((tree / "migrations" / "registry" / "versions").glob("*.py"))[-1]
    add_import(version, "from services.registry.models import Registration  # noqa")
    result = subprocess.run(check, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "imports services.registry.models" in result.stderr
