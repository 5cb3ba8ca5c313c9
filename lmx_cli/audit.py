"""`lmx audit ...`: verify the processing log's hash chain and checkpoints, seal now, the signing key."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

app = typer.Typer(help="The tamper-evident processing log (docs/privacy.md).", no_args_is_help=True)
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


@app.command("verify")
def verify(
    public_key: Annotated[
        Path | None,
        typer.Option(help="The published public key (PEM or the JWK set); default: from REGISTRY_AUDIT_SIGNING_KEY"),
    ] = None,
    checkpoints: Annotated[
        Path | None,
        typer.Option(help="A kept copy of GET /processing-log/checkpoints (a page, or a JSON list of its items)"),
    ] = None,
    seal_first: Annotated[bool, typer.Option("--seal", help="Seal committed records before verifying")] = False,
) -> None:
    """Check every record's link in the chain and every checkpoint (REGISTRY_DATABASE_URL); exit 1 on tampering."""
    from lmx_common.db import Database
    from services.registry import audit
    from services.registry.config import RegistrySettings

    settings = RegistrySettings()
    key = (
        audit.AuditKey.from_public(public_key.read_text())
        if public_key
        else audit.AuditKey.from_setting(settings.audit_signing_key)
    )
    kept: list[dict[str, Any]] = []
    if checkpoints:
        document = json.loads(checkpoints.read_text())
        kept = document["items"] if isinstance(document, dict) else document

    async def run() -> audit.Verification:
        database = Database(settings.database_url)
        try:
            if seal_first:
                await audit.seal_all(database, settings)
            async with database.sessionmaker() as session, session.begin():
                return await audit.verify(session, key, kept)
        finally:
            await database.dispose()

    found = asyncio.run(run())
    if not found.ok:
        errors.print(f"[bold red]the processing log has been tampered with[/bold red]: {found.problems[0]}")
        for problem in found.problems[1:20]:
            errors.print(f"  also: {problem}")
        if len(found.problems) > 20:
            errors.print(f"  … and {len(found.problems) - 20} more")
        raise typer.Exit(1)
    console.print(
        f"OK: {found.records} records in the chain, {found.checkpoints} checkpoints (key {key.key_id}); "
        f"the newest covers {found.covered} records; {found.unsealed} committed records not sealed yet"
    )


@app.command("seal")
def seal(
    checkpoint: Annotated[bool, typer.Option(help="Sign a checkpoint now if any record is past the last")] = True,
) -> None:
    """Seal committed records into the chain now (the registry also does it every few seconds)."""
    from lmx_common.db import Database
    from services.registry import audit
    from services.registry.config import RegistrySettings

    settings = RegistrySettings()

    async def run() -> audit.SealResult:
        database = Database(settings.database_url)
        try:
            return await audit.seal_all(database, settings, force_checkpoint=checkpoint)
        finally:
            await database.dispose()

    result = asyncio.run(run())
    written = f"; checkpoint at count {result.checkpoint}" if result.checkpoint else ""
    console.print(f"sealed {result.sealed} records{written}")


@app.command("public-key")
def public_key() -> None:
    """Print the public key of REGISTRY_AUDIT_SIGNING_KEY (PEM), to publish or hand to a verifier."""
    from services.registry import audit
    from services.registry.config import RegistrySettings

    key = audit.AuditKey.from_setting(RegistrySettings().audit_signing_key)
    typer.echo(key.public_pem().rstrip())


@app.command("generate-key")
def generate_key() -> None:
    """Print a new Ed25519 private key (PEM) for REGISTRY_AUDIT_SIGNING_KEY."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    typer.echo(pem.decode().rstrip())
