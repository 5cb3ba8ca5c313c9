"""No code path of the housing service opens another service's database (read from the source)."""

from __future__ import annotations

import ast
from pathlib import Path

from services.housing.config import HousingSettings


def test_no_code_path_of_the_housing_service_opens_another_services_database():
    root = Path(__file__).resolve().parents[2] / "services" / "housing"
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert not name.startswith(("services.registry", "services.certification", "gateway")), (path, name)
        text = path.read_text()
        for other in ("REGISTRY_DATABASE_URL", "CERTIFICATION_DATABASE_URL", "registry.db", "certification.db"):
            assert other not in text, (path, other)
    urls = [name for name in HousingSettings.model_fields if "database" in name or name.endswith("_url")]
    assert sorted(urls) == ["database_url", "gateway_url", "jwks_url"]
    assert HousingSettings.model_config["env_prefix"] == "HOUSING_"
