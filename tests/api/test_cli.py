"""The lmx CLI step by step: migrate, reference data, keys, clients."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from lmx_cli.main import app

runner = CliRunner()
KID = re.compile(r"[A-Za-z0-9_-]{43}")


def kid_in(output: str) -> str:
    found = KID.search(output)
    assert found, output
    return found.group(0)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "300")
    for prefix in ("GATEWAY", "REGISTRY", "CERTIFICATION", "HOUSING"):
        monkeypatch.delenv(f"{prefix}_DATABASE_URL", raising=False)
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    return tmp_path


def invoke(*args: str):
    result = runner.invoke(app, list(args))
    return result


def test_migrate_and_reference_load_are_idempotent(workdir):
    assert {p.name for p in (workdir / "var").iterdir()} >= {
        "gateway.db",
        "registry.db",
        "certification.db",
        "housing.db",
    }
    first = invoke("reference", "load")
    assert first.exit_code == 0, first.output
    assert "registry: 342 rows" in first.output
    assert "certification: 3 rows" in first.output
    second = invoke("reference", "load")
    assert "registry: 0 rows" in second.output and "housing: 0 rows" in second.output
    assert invoke("migrate", "--only", "registry").exit_code == 0


def test_keys_ensure_rotate_and_list(workdir):
    created = invoke("keys", "ensure")
    assert "created signing key" in created.output
    kid = kid_in(created.output)
    assert f"active signing key {kid}" in invoke("keys", "ensure").output
    rotated = invoke("keys", "rotate")
    new_kid = kid_in(rotated.output)
    assert new_kid != kid
    listing = invoke("keys", "list").output
    assert kid in listing and new_kid in listing


def test_clients_add_list_disable(workdir, tmp_path):
    added = invoke(
        "clients",
        "add",
        "gemeente-breda",
        "--name",
        "Gemeente Breda",
        "--oin",
        "00000099000000000758",
        "--type",
        "municipality",
        "--scopes",
        "registry:read registry:statistics",
        "--municipality",
        "GM0758",
    )
    assert added.exit_code == 0, added.output
    assert "client secret (shown once" in added.output

    from tests.support.tokens import new_rsa_key

    _, pem = new_rsa_key()
    key_file = tmp_path / "key.pem"
    key_file.write_text(pem)
    with_key = invoke(
        "clients",
        "add",
        "nla-machine",
        "--name",
        "Arbeidsinspectie",
        "--oin",
        "00000099000000000002",
        "--type",
        "inspectorate",
        "--scopes",
        "reports:read",
        "--public-key",
        str(key_file),
    )
    assert with_key.exit_code == 0 and "secret" not in with_key.output

    listing = invoke("clients", "list").output
    assert "gemeente-breda" in listing and "GM0758" in listing and "private_key_jwt" in listing

    assert invoke("clients", "disable", "gemeente-breda").exit_code == 0
    assert "disabled" in next(
        line for line in invoke("clients", "list").output.splitlines() if "gemeente-breda" in line
    )
    assert invoke("clients", "disable", "nobody").exit_code == 1


def test_clients_add_lists_every_problem(workdir):
    result = invoke(
        "clients",
        "add",
        "X",
        "--name",
        "n",
        "--oin",
        "123",
        "--type",
        "alien",
        "--scopes",
        "registry:read world:domination",
        "--municipality",
        "GM9999",
    )
    assert result.exit_code == 2
    for expected in ("client id", "OIN", "organisation type", "world:domination", "GM9999"):
        assert expected in result.output


def test_demo_clients_are_created_once(workdir):
    assert invoke("clients", "demo").exit_code == 0
    credentials = json.loads((workdir / "var" / "demo-clients.json").read_text())
    types = {c["organisationType"] for c in credentials.values()}
    assert types == {
        "municipality",
        "information-point",
        "province",
        "national",
        "inspectorate",
        "certifier",
        "service",
    }
    assert invoke("clients", "demo").exit_code == 0
    assert json.loads((workdir / "var" / "demo-clients.json").read_text()) == credentials
    rows = [line for line in invoke("clients", "list").output.splitlines() if "halderberge" in line]
    assert len(rows) == 1

    # A lost credentials file is mended by a new secret, not by a second client.
    (workdir / "var" / "demo-clients.json").unlink()
    assert invoke("clients", "demo").exit_code == 0
    renewed = json.loads((workdir / "var" / "demo-clients.json").read_text())
    assert renewed["halderberge"]["clientSecret"] != credentials["halderberge"]["clientSecret"]
    assert len([line for line in invoke("clients", "list").output.splitlines() if "halderberge" in line]) == 1
