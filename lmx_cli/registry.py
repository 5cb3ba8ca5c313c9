"""`lmx registry ...`: import a municipality's existing list through the API; retention; BSN key rotation."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from lmx_cli.stack import default_gateway, unreachable

app = typer.Typer(help="The registry: bulk import through the API, retention, BSN key rotation.", no_args_is_help=True)
console = Console()
CREDENTIALS_FILE = Path("var") / "demo-clients.json"


def _content_type(path: Path) -> str:
    if path.suffix.lower() == ".csv":
        return "text/csv"
    if path.suffix.lower() in (".ndjson", ".jsonl"):
        return "application/x-ndjson"
    raise typer.BadParameter("the file must end in .csv, .ndjson or .jsonl")


def _token(gateway: str, client_id: str, secret: str) -> str:
    response = httpx.post(
        gateway + "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=30
    )
    if response.status_code != 200:
        console.print(f"[red]no token:[/red] {response.text}")
        raise typer.Exit(2)
    return str(response.json()["access_token"])


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A .csv (with header) or .ndjson file")],
    client_id: Annotated[str, typer.Option(help="Your client at the gateway")] = "halderberge",
    client_secret: Annotated[
        str | None, typer.Option(envvar="LMX_CLIENT_SECRET", help="Default: from var/demo-clients.json")
    ] = None,
    gateway: Annotated[
        str | None,
        typer.Option(help="Gateway base URL (default: the one `lmx up` runs; else LMX_GATEWAY_PORT; else 8000)"),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Lines per request")] = 1000,
    report: Annotated[Path | None, typer.Option(help="Error report (CSV); default <file>.errors.csv")] = None,
    activity: Annotated[
        str,
        typer.Option(
            help="The processing activity (X-Processing-Activity): lmx-registration for a municipality, "
            "lmx-information-point for an information point"
        ),
    ] = "lmx-registration",
) -> None:
    """Import registrations through POST /registry/v1/registrations/bulk, batch by batch, with a progress bar.

    Every line that could not be imported goes to the error report with every error of that line.
    Exits 1 when any line was refused.
    """
    content_type = _content_type(file)
    if client_secret is None:
        known = json.loads(CREDENTIALS_FILE.read_text()) if CREDENTIALS_FILE.exists() else {}
        client_secret = known.get(client_id, {}).get("clientSecret")
        if client_secret is None:
            raise typer.BadParameter("give --client-secret (or LMX_CLIENT_SECRET)")
    gateway = (gateway or default_gateway()).rstrip("/")
    try:
        _import(file, content_type, client_id, client_secret, gateway, batch_size, report, activity)
    except httpx.TransportError as exc:
        typer.echo(unreachable(gateway, exc), err=True)
        raise typer.Exit(1) from None


def _import(
    file: Path,
    content_type: str,
    client_id: str,
    client_secret: str,
    gateway: str,
    batch_size: int,
    report: Path | None,
    activity: str,
) -> None:
    lines = file.read_text(encoding="utf-8-sig").splitlines()
    header = lines[0] if content_type == "text/csv" else None
    body_lines = [(n, line) for n, line in enumerate(lines, start=1) if line.strip() and n > (1 if header else 0)]
    report = report or file.with_name(file.name + ".errors.csv")
    created = refused = 0
    failures: list[tuple[int, str, str, str]] = []
    token = _token(gateway, client_id, client_secret)
    with (
        httpx.Client(timeout=300) as http,
        Progress(
            TextColumn("[bold]importing[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress,
    ):
        task = progress.add_task("lines", total=len(body_lines))
        for start in range(0, len(body_lines), batch_size):
            batch = body_lines[start : start + batch_size]
            payload = "\n".join(([header] if header else []) + [line for _, line in batch]) + "\n"
            response = http.post(
                gateway + "/registry/v1/registrations/bulk",
                content=payload.encode(),
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": content_type,
                    "X-Processing-Activity": activity,
                },
            )
            if response.status_code == 401:  # the token expired during a long import
                token = _token(gateway, client_id, client_secret)
                response = http.post(
                    gateway + "/registry/v1/registrations/bulk",
                    content=payload.encode(),
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": content_type,
                        "X-Processing-Activity": activity,
                    },
                )
            if response.status_code != 200:
                console.print(
                    f"[red]batch from line {batch[0][0]} refused ({response.status_code}):[/red] {response.text}"
                )
                for number, _ in batch:
                    failures.append((number, "batch", str(response.status_code), "the whole batch was refused"))
                refused += len(batch)
            else:
                result = response.json()
                created += result["created"]
                refused += result["invalid"]
                # The service numbers lines within the request; map them back to the file's lines.
                offset = 1 if header else 0
                for item in result["results"]:
                    if item["status"] != "invalid":
                        continue
                    number = batch[item["line"] - 1 - offset][0]
                    for error in item.get("errors", []):
                        failures.append((number, error.get("name", ""), error.get("code", ""), error.get("reason", "")))
            progress.advance(task, len(batch))
    if failures:
        with report.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["line", "field", "code", "reason"])
            writer.writerows(failures)
    console.print(f"created {created}, refused {refused}" + (f"; errors in {report}" if failures else ""))
    if refused:
        raise typer.Exit(1)


@app.command("anonymise")
def anonymise(
    retention_days: Annotated[int | None, typer.Option(help="Default: REGISTRY_RETENTION_DAYS")] = None,
) -> None:
    """Anonymise registrations past their retention period (departed, or active and long past their
    expected end) and generalise what remains to k-anonymity (also runs on a schedule)."""
    from lmx_common.db import Database
    from services.registry.config import RegistrySettings
    from services.registry.retention import run_once
    from services.registry.storage import secure_delete

    settings = RegistrySettings()

    async def run() -> int:
        database = Database(settings.database_url)
        secure_delete(database)
        try:
            return await run_once(database, settings, retention_days, wait=True)
        finally:
            await database.dispose()

    console.print(f"anonymised {asyncio.run(run())} registrations")


rotate_keys = typer.Typer(
    help="Rotate the BSN keys: re-encrypt and re-pseudonymise every stored BSN (docs/operations.md).",
    no_args_is_help=True,
)
app.add_typer(rotate_keys, name="rotate-keys")


def _rotate(batch_size: int, after: str | None, dry_run: bool) -> None:
    from lmx_common.db import Database
    from services.registry.config import RegistrySettings
    from services.registry.key_rotation import Progress as Rotation
    from services.registry.key_rotation import rotate

    settings = RegistrySettings()

    def report(progress: Rotation) -> None:
        if not dry_run:
            console.print(f"{progress.examined} examined, {progress.rotated} rotated; last id {progress.last_id}")

    async def run() -> Rotation:
        database = Database(settings.database_url)
        try:
            return await rotate(database, settings.vault(), batch_size, after, dry_run, report)
        finally:
            await database.dispose()

    progress = asyncio.run(run())
    verb = "to rotate" if dry_run else "rotated"
    console.print(f"{progress.examined} registrations with a BSN, {progress.rotated} {verb}")
    for registration_id in progress.unreadable:
        console.print(f"[red]unreadable with the configured keys:[/red] {registration_id}")
    for registration_id in progress.conflicts:
        console.print(f"[red]another active registration has this BSN:[/red] {registration_id}")
    if progress.remaining or (dry_run and progress.rotated):
        raise typer.Exit(1)
    console.print("every stored BSN is under the current keys: the previous keys are no longer needed")


@rotate_keys.command("run")
def rotate_keys_run(
    batch_size: Annotated[int, typer.Option(min=1, help="Registrations per transaction")] = 1000,
    after: Annotated[str | None, typer.Option(help="Resume after this registration id (printed per batch)")] = None,
) -> None:
    """Rewrite every stored BSN under REGISTRY_ENCRYPTION_KEY and REGISTRY_PSEUDONYM_KEY, reading with the
    REGISTRY_PREVIOUS_* keys; idempotent, and resumable by running again. Exit 1 if rows remain."""
    _rotate(batch_size, after, dry_run=False)


@rotate_keys.command("status")
def rotate_keys_status(
    batch_size: Annotated[int, typer.Option(min=1, help="Registrations read per query")] = 1000,
) -> None:
    """Count the stored BSNs not yet under the current keys (writes nothing); exit 0 when there are none."""
    _rotate(batch_size, None, dry_run=True)
