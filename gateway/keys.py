"""RS256 signing keys: creation, encryption at rest, rotation, the published JWKS."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.models import SigningKey


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint, used as the kid."""
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).decode().rstrip("=")


def new_signing_key(passphrase: str, now: datetime | None = None) -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    kid = _thumbprint(jwk)
    jwk.update(kid=kid, use="sig", alg="RS256")
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    ).decode()
    return SigningKey(kid=kid, private_key_pem=pem, public_jwk=json.dumps(jwk), created_at=now or datetime.now(UTC))


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything we store is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


async def active_key(session: AsyncSession) -> SigningKey | None:
    result = await session.execute(
        select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.created_at.desc()).limit(1)
    )
    return result.scalar_one_or_none()


async def ensure_key(session: AsyncSession, passphrase: str) -> tuple[SigningKey, bool]:
    """The active key; a new one is made when there is none (first run)."""
    key = await active_key(session)
    if key is not None:
        return key, False
    key = new_signing_key(passphrase)
    session.add(key)
    await session.flush()
    return key, True


async def rotate(session: AsyncSession, passphrase: str, token_ttl: int, leeway: int) -> SigningKey:
    """A new key signs from now on; older keys stay published until their last token expires."""
    now = datetime.now(UTC)
    keep_until = now + timedelta(seconds=token_ttl + leeway)
    result = await session.execute(select(SigningKey).where(SigningKey.retired_at.is_(None)))
    for old in result.scalars():
        old.retired_at = now
        old.expires_at = keep_until
    key = new_signing_key(passphrase, now + timedelta(microseconds=1))
    session.add(key)
    await session.flush()
    return key


async def published_keys(session: AsyncSession) -> list[SigningKey]:
    now = datetime.now(UTC)
    result = await session.execute(
        select(SigningKey)
        .where(or_(SigningKey.expires_at.is_(None), SigningKey.expires_at > now))
        .order_by(SigningKey.created_at.desc())
    )
    return [k for k in result.scalars() if k.expires_at is None or (_aware(k.expires_at) or now) > now]


async def list_keys(session: AsyncSession) -> list[SigningKey]:
    result = await session.execute(select(SigningKey).order_by(SigningKey.created_at))
    return list(result.scalars())


@dataclass
class _Signer:
    kid: str
    private_key: rsa.RSAPrivateKey


class KeyStore:
    """The gateway's view of its keys: signs with the active one, verifies with the published ones.

    Reads the database so that a rotation by the CLI takes effect in every running gateway:
    the signing key is looked up per token request (cheap, and rare), the verification keys are
    cached for `cache_seconds` and reloaded sooner when an unknown kid appears (at most once per
    `min_refresh_seconds`).
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        passphrase: str,
        min_refresh_seconds: float = 1.0,
        cache_seconds: float = 60.0,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.passphrase = passphrase
        self.min_refresh_seconds = min_refresh_seconds
        self.cache_seconds = cache_seconds
        self._decrypted: dict[str, rsa.RSAPrivateKey] = {}
        self._public: dict[str, jwt.PyJWK] = {}
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    async def signer(self, session: AsyncSession) -> _Signer:
        key, _ = await ensure_key(session, self.passphrase)
        private = self._decrypted.get(key.kid)
        if private is None:
            loaded = await asyncio.to_thread(
                serialization.load_pem_private_key, key.private_key_pem.encode(), self.passphrase.encode()
            )
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise RuntimeError("signing key is not an RSA key")
            private = loaded
            self._decrypted[key.kid] = private
        return _Signer(key.kid, private)

    async def jwks(self, session: AsyncSession) -> dict[str, Any]:
        return {"keys": [json.loads(k.public_jwk) for k in await published_keys(session)]}

    async def _reload(self) -> None:
        async with self.sessionmaker() as session:
            keys = await published_keys(session)
        self._public = {k.kid: jwt.PyJWK(json.loads(k.public_jwk), algorithm="RS256") for k in keys}
        self._loaded_at = time.monotonic()

    async def key_for(self, kid: str) -> jwt.PyJWK | None:
        """A published key by kid. The cache is re-read every `cache_seconds`, so a key that left the
        JWKS (its last token expired, or an operator withdrew it) stops verifying here as well."""
        fresh = time.monotonic() - self._loaded_at < self.cache_seconds
        if fresh and kid in self._public:
            return self._public[kid]
        async with self._lock:
            age = time.monotonic() - self._loaded_at
            if age < self.cache_seconds and kid in self._public:
                return self._public[kid]
            if age < self.min_refresh_seconds:  # at most one reload per interval, whatever kids arrive
                await asyncio.sleep(self.min_refresh_seconds - age)
            await self._reload()
        return self._public.get(kid)
