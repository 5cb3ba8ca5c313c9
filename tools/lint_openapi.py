"""Lint every published OpenAPI document with the NL GOV API Design Rules linter (Spectral).

The documents are built in process, exactly as they are published: the gateway's (``/openapi.json``)
and each service's (``/<service>/v1/openapi.json``). Each is written to a temporary file and linted
with ``tools/adr-linter/lmx.yaml`` (Logius's ruleset, vendored, plus our additions) by the Spectral
CLI pinned in ``tools/adr-linter/package.json``. Any error or warning fails; see
docs/decisions/0026-nl-gov-adr-linter.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LINTER = ROOT / "tools" / "adr-linter"
RULESET = LINTER / "lmx.yaml"
SPECTRAL = LINTER / "node_modules" / ".bin" / "spectral"


def documents() -> dict[str, dict[str, Any]]:
    sys.path.insert(0, str(ROOT))
    from gateway.main import create_app as gateway
    from lmx_cli.routes import service_documents

    return {"gateway": gateway().openapi(), **service_documents()}


def main() -> int:
    if not SPECTRAL.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=LINTER, check=True)  # noqa: S607
    failed = False
    with tempfile.TemporaryDirectory(dir=LINTER) as tmp:  # overrides in lmx.yaml match paths below it
        for name, document in documents().items():
            path = Path(tmp) / f"{name}.openapi.json"
            path.write_text(json.dumps(document, indent=2))
            result = subprocess.run(  # noqa: S603 - our pinned spectral on our own files
                [str(SPECTRAL), "lint", "--ruleset", str(RULESET), "--fail-severity", "hint", str(path)],
                capture_output=True,
                text=True,
                check=False,
            )
            output = (result.stdout + result.stderr).strip().replace(str(path), f"{name}.openapi.json")
            print(f"== {name}: {'ok' if result.returncode == 0 else 'FAILED'}")
            if result.returncode != 0:
                print(output)
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
