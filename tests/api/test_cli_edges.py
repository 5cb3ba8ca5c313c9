"""The CLI's edges (issue 15, item 6): it finds the running stack, says so in one line when the gateway
cannot be reached, and registers a client with a given secret without the secret on the command line."""

from __future__ import annotations

import json
import socket

import pytest
from typer.testing import CliRunner

from lmx_cli.main import app, in_session
from lmx_cli.stack import default_gateway
from tests.api.test_cli import workdir  # noqa: F401 - the fixture: a migrated var/ in a temporary directory

runner = CliRunner()
SECRET = "given-secret-0123456789-abcdefghijklmnopqrstuvwxyz"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends: nothing listens


def housing_client(*extra: str):
    return runner.invoke(
        app,
        [
            "clients",
            "add",
            "housing-service",
            "--name",
            "Housing service",
            "--oin",
            "00000099000000000003",
            "--type",
            "service",
            "--scopes",
            "registry:statistics certification:read",
            *extra,
        ],
    )


def stored_secret_is(client_id: str, secret: str) -> bool:
    from gateway.clients import get_client, verify_secret

    async def work(session):
        return await verify_secret(await get_client(session, client_id), secret)

    return bool(in_session("gateway", work))


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LMX_GATEWAY_PORT", raising=False)
    (tmp_path / "var").mkdir()
    return tmp_path


def test_the_default_gateway_is_the_stacks_then_the_port_variable_then_8000(here, monkeypatch):
    assert default_gateway() == "http://127.0.0.1:8000"
    monkeypatch.setenv("LMX_GATEWAY_PORT", "8100")
    assert default_gateway() == "http://127.0.0.1:8100"
    (here / "var" / "stack.json").write_text(json.dumps({"gateway": {"pid": 1, "port": 8200}}))
    assert default_gateway() == "http://127.0.0.1:8200"
    (here / "var" / "stack.json").write_text(json.dumps({"gateway": {"pid": 1, "port": 8200, "url": "http://h:1"}}))
    assert default_gateway() == "http://h:1"


def test_token_and_import_say_in_one_line_that_the_gateway_cannot_be_reached(here):
    port = closed_port()
    (here / "var" / "stack.json").write_text(json.dumps({"gateway": {"pid": 1, "port": port}}))
    (here / "var" / "demo-clients.json").write_text(json.dumps({"halderberge": {"clientSecret": "x"}}))
    token = runner.invoke(app, ["token", "halderberge"])
    assert token.exit_code == 1
    lines = token.output.strip().splitlines()
    assert len(lines) == 1, token.output
    assert f"cannot reach the gateway at http://127.0.0.1:{port}" in lines[0]
    assert "Traceback" not in token.output
    assert isinstance(token.exception, SystemExit)

    data = here / "list.csv"
    data.write_text("bsn,firstName\n123456782,A\n")
    imported = runner.invoke(app, ["registry", "import", str(data)])
    assert imported.exit_code == 1
    lines = imported.output.strip().splitlines()
    assert len(lines) == 1, imported.output
    assert f"cannot reach the gateway at http://127.0.0.1:{port}" in lines[0]
    assert isinstance(imported.exception, SystemExit)


def test_clients_add_takes_a_secret_from_an_environment_variable(workdir, monkeypatch):  # noqa: F811
    monkeypatch.setenv("HOUSING_SECRET_FOR_TEST", SECRET)
    added = housing_client("--secret-env", "HOUSING_SECRET_FOR_TEST")
    assert added.exit_code == 0, added.output
    assert SECRET not in added.output and "shown once" not in added.output
    assert stored_secret_is("housing-service", SECRET)


def test_clients_add_takes_a_secret_from_a_file(workdir, tmp_path):  # noqa: F811
    secret_file = tmp_path / "housing.secret"
    secret_file.write_text(SECRET + "\n")
    added = housing_client("--secret-file", str(secret_file))
    assert added.exit_code == 0, added.output
    assert SECRET not in added.output
    assert stored_secret_is("housing-service", SECRET)


def test_clients_add_refuses_a_weak_missing_or_inline_secret(workdir, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SHORT_SECRET", "too-short")
    assert housing_client("--secret-env", "SHORT_SECRET").exit_code == 2
    assert housing_client("--secret-env", "NOT_SET_AT_ALL").exit_code == 2
    assert housing_client("--secret-file", str(tmp_path / "missing")).exit_code == 2
    assert housing_client("--secret", SECRET).exit_code == 2  # there is no such option
    from tests.support.tokens import new_rsa_key

    key_file = tmp_path / "key.pem"
    key_file.write_text(new_rsa_key()[1])
    monkeypatch.setenv("GOOD_SECRET", SECRET)
    assert housing_client("--secret-env", "GOOD_SECRET", "--public-key", str(key_file)).exit_code == 2
    assert "housing-service" not in runner.invoke(app, ["clients", "list"]).output
