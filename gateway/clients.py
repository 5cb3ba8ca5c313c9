"""The client registry: who may ask for tokens, for which organisation, with which scopes."""

from __future__ import annotations

import asyncio
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import Client
from lmx_common.auth import OrganisationType
from lmx_common.reference import is_municipality, is_province
from lmx_common.scopes import SCOPES

# argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): the library default (64 MiB,
# 3 passes, 4 lanes) took ~0.5 s per hash on this 2-core machine, a cost every token request pays.
# Client secrets are 256-bit random strings, so the hash guards against a stolen table, not guessing.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
OIN = re.compile(r"[0-9]{20}")  # matched in full; ASCII digits only (a Unicode digit is no OIN)
CLIENT_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{2,99}$")


class ClientRegistrationError(ValueError):
    """A client definition that cannot be registered; the message lists every problem."""


@dataclass(frozen=True)
class NewClient:
    client_id: str
    name: str
    organisation_oin: str
    organisation_type: str
    scopes: tuple[str, ...]
    municipality_code: str | None = None
    province_code: str | None = None
    public_key_pem: str | None = None


def validate(new: NewClient) -> list[str]:
    problems = []
    if not CLIENT_ID.fullmatch(new.client_id):
        problems.append("client id: 3-100 characters, lower case letters, digits, '.', '_' or '-'")
    if not OIN.fullmatch(new.organisation_oin):
        problems.append("organisation OIN: 20 digits")
    try:
        org_type = OrganisationType(new.organisation_type)
    except ValueError:
        problems.append("organisation type: one of " + ", ".join(t.value for t in OrganisationType))
        org_type = None
    unknown = sorted(set(new.scopes) - set(SCOPES))
    if unknown:
        problems.append("unknown scopes: " + ", ".join(unknown))
    if new.municipality_code is not None and not is_municipality(new.municipality_code):
        problems.append(f"municipality code {new.municipality_code} is not in the reference list")
    if new.province_code is not None and not is_province(new.province_code):
        problems.append(f"province code {new.province_code} is not in the reference list")
    if org_type == OrganisationType.MUNICIPALITY and new.municipality_code is None:
        problems.append("a municipality client needs a municipality code")
    if org_type == OrganisationType.PROVINCE and new.province_code is None:
        problems.append("a province client needs a province code")
    if new.public_key_pem is not None:
        try:
            load_pem_public_key(new.public_key_pem.encode())
        except ValueError:
            problems.append("public key: not a PEM public key")
    return problems


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


MIN_GIVEN_SECRET = 32  # characters; a generated secret has 43
MAX_GIVEN_SECRET = 256


def secret_problems(secret: str) -> list[str]:
    """What is wrong with a secret an operator gives (`lmx clients add --secret-file/--secret-env`)."""
    if not MIN_GIVEN_SECRET <= len(secret) <= MAX_GIVEN_SECRET:
        return [f"a given secret has {MIN_GIVEN_SECRET} to {MAX_GIVEN_SECRET} characters"]
    if not secret.isascii() or not secret.isprintable() or any(c.isspace() for c in secret):
        return ["a given secret has printable ASCII characters only, no spaces"]
    return []


async def add_client(
    session: AsyncSession, new: NewClient, with_secret: bool, given_secret: str | None = None
) -> tuple[Client, str | None]:
    """Register a client; returns its secret once (only its hash is stored): the given one, or a generated one."""
    problems = validate(new)
    if given_secret is not None:
        problems += secret_problems(given_secret) if with_secret else ["a client with a public key takes no secret"]
    if await get_client(session, new.client_id) is not None:
        problems.append(f"client id {new.client_id} is taken")
    if not with_secret and new.public_key_pem is None:
        problems.append("a client needs a secret or a public key")
    if problems:
        raise ClientRegistrationError("; ".join(problems))
    secret = (given_secret or secrets.token_urlsafe(32)) if with_secret else None
    client = Client(
        client_id=new.client_id,
        name=new.name,
        organisation_oin=new.organisation_oin,
        organisation_type=new.organisation_type,
        municipality_code=new.municipality_code,
        province_code=new.province_code,
        scopes=" ".join(sorted(set(new.scopes))),
        secret_hash=await asyncio.to_thread(hash_secret, secret) if secret else None,
        public_key_pem=new.public_key_pem,
        disabled=False,
        created_at=datetime.now(UTC),
    )
    session.add(client)
    await session.flush()
    return client, secret


async def reset_secret(session: AsyncSession, client: Client) -> str:
    secret = secrets.token_urlsafe(32)
    client.secret_hash = await asyncio.to_thread(hash_secret, secret)
    await session.flush()
    return secret


async def get_client(session: AsyncSession, client_id: str) -> Client | None:
    result = await session.execute(select(Client).where(Client.client_id == client_id))
    return result.scalar_one_or_none()


async def list_clients(session: AsyncSession) -> list[Client]:
    result = await session.execute(select(Client).order_by(Client.client_id))
    return list(result.scalars())


async def set_disabled(session: AsyncSession, client_id: str, disabled: bool = True) -> Client | None:
    client = await get_client(session, client_id)
    if client is not None:
        client.disabled = disabled
        await session.flush()
    return client


def _verify(stored_hash: str, secret: str) -> bool:
    try:
        return _hasher.verify(stored_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


async def verify_secret(client: Client | None, secret: str) -> bool:
    """Constant work whether or not the client exists, so timing does not reveal client ids."""
    stored = client.secret_hash if client is not None and client.secret_hash else _DUMMY_HASH
    ok = await asyncio.to_thread(_verify, stored, secret)
    return ok and client is not None and client.secret_hash is not None


class VerifierBusy(Exception):
    """No turn to verify a secret came free within the queue timeout."""


class SecretVerifier:
    """Verifies client secrets on its own few threads, at most `concurrency` at once (ADR 0022).

    argon2 releases the GIL and takes a core for tens of milliseconds: on the shared default
    executor a burst of token requests (wrong secrets cost the same) would take every core from
    the event loop that proxies everyone's calls. A request that waits longer than
    `queue_timeout` for a turn gets VerifierBusy (the token endpoint answers 503).
    """

    def __init__(self, concurrency: int, queue_timeout: float) -> None:
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="secret-verify")
        self._turns = asyncio.Semaphore(concurrency)
        self.queue_timeout = queue_timeout

    async def verify(self, client: Client | None, secret: str) -> bool:
        """As verify_secret: constant work whether or not the client exists."""
        stored = client.secret_hash if client is not None and client.secret_hash else _DUMMY_HASH
        try:
            async with asyncio.timeout(self.queue_timeout):
                await self._turns.acquire()
        except TimeoutError as exc:
            raise VerifierBusy from exc
        try:
            ok = await asyncio.get_running_loop().run_in_executor(self._executor, _verify, stored, secret)
        finally:
            self._turns.release()
        return ok and client is not None and client.secret_hash is not None

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
