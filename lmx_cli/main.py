"""`lmx`: migrate, reference data, keys, clients, token, and `up` (the whole stack)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.config import GatewaySettings
from lmx_cli import audit as audit_cli
from lmx_cli import registry as registry_cli
from lmx_cli import routes as routes_cli
from lmx_common.db import Database
from lmx_common.migrations import DATABASES, upgrade

app = typer.Typer(help="Labour Migration Exchange: set-up steps and the local stack.", no_args_is_help=True)
keys_app = typer.Typer(help="The gateway's signing keys.", no_args_is_help=True)
clients_app = typer.Typer(help="The gateway's OAuth clients.", no_args_is_help=True)
reference_app = typer.Typer(help="Reference data (municipalities, provinces, regions, schemes).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(clients_app, name="clients")
app.add_typer(reference_app, name="reference")
app.add_typer(registry_cli.app, name="registry")
app.add_typer(routes_cli.app, name="routes")
app.add_typer(audit_cli.app, name="audit")
console = Console()
GATEWAY_HELP = "Gateway base URL (default: the one `lmx up` runs, in var/stack.json; else LMX_GATEWAY_PORT; else 8000)"
T = TypeVar("T")

VAR = Path("var")
CREDENTIALS_FILE = VAR / "demo-clients.json"


def private_var() -> None:
    """var/ holds the SQLite databases, keys and demo credentials: its owner's only (0700)."""
    VAR.mkdir(mode=0o700, exist_ok=True)
    VAR.chmod(0o700)


def database_urls() -> dict[str, str]:
    from services.certification.config import CertificationSettings
    from services.housing.config import HousingSettings
    from services.registry.config import RegistrySettings

    return {
        "gateway": GatewaySettings().database_url,
        "registry": RegistrySettings().database_url,
        "certification": CertificationSettings().database_url,
        "housing": HousingSettings().database_url,
    }


def in_session(name: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one transaction on the named database."""

    async def run() -> T:
        database = Database(database_urls()[name])
        try:
            async with database.sessionmaker() as session, session.begin():
                return await work(session)
        finally:
            await database.dispose()

    return asyncio.run(run())


@app.command()
def migrate(only: Annotated[str | None, typer.Option(help="One database: " + ", ".join(DATABASES))] = None) -> None:
    """Bring the databases to the newest schema."""
    private_var()
    urls = database_urls()
    names = [only] if only else list(DATABASES)
    for name in names:
        if name not in urls:
            raise typer.BadParameter(f"unknown database {name}")
        upgrade(name, urls[name])
        console.print(f"migrated [bold]{name}[/bold]")


@reference_app.command("load")
def reference_load() -> None:
    """Load municipalities, provinces, regions and schemes into the services' databases."""
    from lmx_cli.reference import load_all

    for name, changed in asyncio.run(load_all(database_urls())).items():
        console.print(f"reference data: {name}: {changed} rows added or updated")


@app.command("demo-data")
def demo_data() -> None:
    """Load each service's demo data (development only; idempotent)."""
    from lmx_cli.demo_data import load_all

    if GatewaySettings().environment == "production":
        console.print("[red]refusing to load demo data in production[/red]")
        raise typer.Exit(2)
    for name, added in asyncio.run(load_all(database_urls())).items():
        console.print(f"demo data: {name}: {added} rows added")


@keys_app.command("ensure")
def keys_ensure() -> None:
    """Create a signing key when there is none (first run)."""
    from gateway.keys import ensure_key

    settings = GatewaySettings()

    async def work(session: AsyncSession) -> tuple[str, bool]:
        key, created = await ensure_key(session, settings.key_passphrase)
        return key.kid, created

    kid, created = in_session("gateway", work)
    console.print(f"{'created' if created else 'active'} signing key {kid}")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Sign new tokens with a new key; the old key stays published until its last token expires."""
    from gateway.keys import rotate

    settings = GatewaySettings()

    async def work(session: AsyncSession) -> str:
        key = await rotate(session, settings.key_passphrase, settings.token_ttl_seconds, settings.token_leeway_seconds)
        return key.kid

    console.print(f"new signing key {in_session('gateway', work)}")


@keys_app.command("list")
def keys_list() -> None:
    """Every key with its state."""
    from gateway.keys import list_keys

    async def work(session: AsyncSession) -> list[tuple[str, str, str, str]]:
        return [
            (k.kid, str(k.created_at), str(k.retired_at or ""), str(k.expires_at or ""))
            for k in await list_keys(session)
        ]

    table = Table("kid", "created", "retired", "leaves JWKS")
    for row in in_session("gateway", work):
        table.add_row(*row)
    console.print(table)


@clients_app.command("add")
def clients_add(
    client_id: Annotated[str, typer.Argument(help="e.g. gemeente-breda")],
    name: Annotated[str, typer.Option(help="Organisation name")],
    oin: Annotated[str, typer.Option(help="Organisation OIN (20 digits)")],
    org_type: Annotated[
        str,
        typer.Option(
            "--type", help="municipality, information-point, province, national, inspectorate, certifier or service"
        ),
    ],
    scopes: Annotated[str, typer.Option(help="Space-separated allowed scopes")],
    municipality: Annotated[str | None, typer.Option(help="CBS code, e.g. GM0758")] = None,
    province: Annotated[str | None, typer.Option(help="Province code, e.g. PV30")] = None,
    public_key: Annotated[Path | None, typer.Option(help="PEM public key for private_key_jwt")] = None,
    secret_file: Annotated[
        Path | None, typer.Option(help="Read the client's secret from this file (one line) instead of generating one")
    ] = None,
    secret_env: Annotated[
        str | None, typer.Option(help="Read the client's secret from this environment variable instead")
    ] = None,
) -> None:
    """Register a client: with --public-key for private_key_jwt; otherwise with the secret in --secret-file or
    --secret-env (never on the command line), or else a generated secret, shown once."""
    from gateway.clients import ClientRegistrationError, NewClient, add_client

    given = _given_secret(secret_file, secret_env)
    if given is not None and public_key is not None:
        console.print("[red]cannot add client:[/red] give a public key or a secret, not both")
        raise typer.Exit(2)
    new = NewClient(
        client_id,
        name,
        oin,
        org_type,
        tuple(scopes.split()),
        municipality,
        province,
        public_key.read_text() if public_key else None,
    )

    async def work(session: AsyncSession) -> str | None:
        _, secret = await add_client(session, new, with_secret=public_key is None, given_secret=given)
        return secret

    try:
        secret = in_session("gateway", work)
    except ClientRegistrationError as exc:
        console.print(f"[red]cannot add client:[/red] {exc}")
        raise typer.Exit(2) from exc
    console.print(f"added client {client_id}")
    if secret and given is None:
        console.print(f"client secret (shown once, store it safely): {secret}")


def _given_secret(secret_file: Path | None, secret_env: str | None) -> str | None:
    """The secret from --secret-file or --secret-env; one line error and exit 2 when it cannot be read."""
    if secret_file is not None and secret_env is not None:
        console.print("[red]cannot add client:[/red] give --secret-file or --secret-env, not both")
        raise typer.Exit(2)
    if secret_file is not None:
        try:
            return secret_file.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            console.print(f"[red]cannot read the secret file:[/red] {exc}")
            raise typer.Exit(2) from None
    if secret_env is not None:
        value = os.environ.get(secret_env)
        if not value:
            console.print(f"[red]cannot add client:[/red] the environment variable {secret_env} is not set")
            raise typer.Exit(2)
        return value
    return None


@clients_app.command("list")
def clients_list() -> None:
    """Every client, its organisation and scopes."""
    from gateway.clients import list_clients

    async def work(session: AsyncSession) -> list[list[str]]:
        return [
            [
                c.client_id,
                c.organisation_type,
                c.organisation_oin,
                c.municipality_code or c.province_code or "",
                "secret" if c.secret_hash else "private_key_jwt",
                "disabled" if c.disabled else "active",
                c.scopes,
            ]
            for c in await list_clients(session)
        ]

    table = Table("client", "type", "OIN", "code", "auth", "state", "scopes")
    for row in in_session("gateway", work):
        table.add_row(*row)
    console.print(table)


@clients_app.command("disable")
def clients_disable(client_id: str) -> None:
    """Refuse new tokens to this client (tokens already issued expire within minutes)."""
    from gateway.clients import set_disabled

    async def work(session: AsyncSession) -> bool:
        return await set_disabled(session, client_id) is not None

    if not in_session("gateway", work):
        console.print(f"[red]no client {client_id}[/red]")
        raise typer.Exit(1)
    console.print(f"disabled {client_id}")


@clients_app.command("enable")
def clients_enable(client_id: str) -> None:
    """Let a disabled client ask for tokens again."""
    from gateway.clients import set_disabled

    async def work(session: AsyncSession) -> bool:
        return await set_disabled(session, client_id, disabled=False) is not None

    if not in_session("gateway", work):
        console.print(f"[red]no client {client_id}[/red]")
        raise typer.Exit(1)
    console.print(f"enabled {client_id}")


@clients_app.command("demo")
def clients_demo() -> None:
    """Create the demo clients (development only) and write their credentials to var/demo-clients.json."""
    if GatewaySettings().environment == "production":
        console.print("[red]refusing to create demo clients in production[/red]")
        raise typer.Exit(2)
    ensure_demo_clients()
    console.print(f"demo clients ready; credentials in {CREDENTIALS_FILE}")


def ensure_demo_clients() -> dict[str, dict[str, Any]]:
    """Idempotent: existing clients keep their secret; a client whose secret was lost gets a new one."""
    from gateway.clients import add_client, get_client, reset_secret
    from lmx_cli.demo import DEMO_CLIENTS

    private_var()
    known: dict[str, dict[str, Any]] = json.loads(CREDENTIALS_FILE.read_text()) if CREDENTIALS_FILE.exists() else {}

    async def work(session: AsyncSession) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = {}
        for new in DEMO_CLIENTS:
            client = await get_client(session, new.client_id)
            secret = known.get(new.client_id, {}).get("clientSecret")
            if client is None:
                _, secret = await add_client(session, new, with_secret=True)
            elif secret is None:
                secret = await reset_secret(session, client)
            result[new.client_id] = {
                "clientSecret": secret,
                "organisationType": new.organisation_type,
                "organisationName": new.name,
                "scopes": " ".join(new.scopes),
            }
        return result

    credentials = in_session("gateway", work)
    # Created 0600 (not chmod-ed after the secrets are already in a world-readable file).
    descriptor = os.open(CREDENTIALS_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(json.dumps(credentials, indent=2))
    CREDENTIALS_FILE.chmod(0o600)
    return credentials


@app.command()
def token(
    client_id: Annotated[str, typer.Argument(help="A demo client, e.g. halderberge")],
    scope: Annotated[str | None, typer.Option(help="Space-separated scopes (default: all allowed)")] = None,
    gateway: Annotated[str | None, typer.Option(help=GATEWAY_HELP)] = None,
) -> None:
    """Print an access token for a demo client (reads var/demo-clients.json)."""
    import httpx

    from lmx_cli.stack import default_gateway, unreachable

    gateway = (gateway or default_gateway()).rstrip("/")
    credentials = json.loads(CREDENTIALS_FILE.read_text()) if CREDENTIALS_FILE.exists() else {}
    if client_id not in credentials:
        typer.echo(f"no demo credentials for {client_id} in {CREDENTIALS_FILE}", err=True)
        raise typer.Exit(1)
    data = {"grant_type": "client_credentials"} | ({"scope": scope} if scope else {})
    try:
        response = httpx.post(
            gateway + "/oauth/token", data=data, auth=(client_id, credentials[client_id]["clientSecret"]), timeout=10
        )
    except httpx.TransportError as exc:
        typer.echo(unreachable(gateway, exc), err=True)
        raise typer.Exit(1) from None
    if response.status_code != 200:
        print(response.text, file=sys.stderr)
        raise typer.Exit(1)
    print(response.json()["access_token"])


@app.command()
def up(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    gateway_port: Annotated[int, typer.Option(envvar="LMX_GATEWAY_PORT")] = 8000,
    registry_port: Annotated[int, typer.Option(envvar="LMX_REGISTRY_PORT")] = 8001,
    certification_port: Annotated[int, typer.Option(envvar="LMX_CERTIFICATION_PORT")] = 8002,
    housing_port: Annotated[int, typer.Option(envvar="LMX_HOUSING_PORT")] = 8003,
    demo: Annotated[bool, typer.Option(help="Create demo clients and data")] = True,
    replicas: Annotated[
        int,
        typer.Option(
            min=1,
            help="Processes of each component (more than 1: PostgreSQL databases and Redis for the rate limits)",
        ),
    ] = 1,
    port_step: Annotated[
        int, typer.Option(min=1, help="With --replicas: replica r listens on each port + (r-1) x this")
    ] = 10,
    redis_url: Annotated[
        str | None, typer.Option(envvar="GATEWAY_REDIS_URL", help="Redis for the gateway's rate limits")
    ] = None,
) -> None:
    """Migrate, load reference data, make keys and demo clients, then run the whole stack until Ctrl-C."""
    from lmx_cli.stack import lane_ports, run_stack

    environment = dict(os.environ)
    if replicas > 1:
        # Several processes on one SQLite file would each run every job with no lock between them,
        # and in-memory rate limits would allow N times the rate (ADR 0031).
        sqlite = sorted(name for name, url in database_urls().items() if not url.startswith("postgresql"))
        if sqlite:
            console.print(f"[red]--replicas needs PostgreSQL; on SQLite: {', '.join(sqlite)}[/red]")
            raise typer.Exit(2)
        if not redis_url:
            console.print("[red]--replicas needs Redis for the rate limits: --redis-url or GATEWAY_REDIS_URL[/red]")
            raise typer.Exit(2)
    if redis_url:
        environment["GATEWAY_REDIS_URL"] = redis_url
    ports = {
        "gateway": gateway_port,
        "registry": registry_port,
        "certification": certification_port,
        "housing": housing_port,
    }
    every = [port for replica in range(1, replicas + 1) for port in lane_ports(ports, replica, port_step).values()]
    if len(set(every)) != len(every):
        console.print("[red]two processes would share a port: choose another --port-step[/red]")
        raise typer.Exit(2)
    migrate(None)
    reference_load()
    keys_ensure()
    credentials = {}
    if demo and GatewaySettings().environment == "production":
        console.print("[red]refusing demo clients and data in production; use --no-demo[/red]")
        raise typer.Exit(2)
    if demo:
        credentials = ensure_demo_clients()
        demo_data()
    raise typer.Exit(run_stack(host, ports, credentials, environment, replicas=replicas, port_step=port_step))


if __name__ == "__main__":
    app()
