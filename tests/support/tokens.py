"""Crafting tokens and client assertions, good and bad, for the authentication tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.keys import KeyStore
from lmx_common.db import Database


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def new_rsa_key() -> tuple[rsa.RSAPrivateKey, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, pem.decode()


def client_assertion(key: rsa.RSAPrivateKey, client_id: str, audience: str, **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256")


def access_claims(issuer: str, audience: str = "urn:lmx:api", **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": "forger",
        "client_id": "forger",
        "jti": str(uuid.uuid4()),
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "scope": "registry:read registry:write",
        "org": "00000099000000001655",
        "org_type": "municipality",
        "municipality_code": "GM1655",
    }
    claims.update(overrides)
    return claims


async def gateway_signer(database_url: str, passphrase: str) -> tuple[str, rsa.RSAPrivateKey]:
    """The gateway's active signing key, as a test that forges otherwise valid tokens needs it."""
    database = Database(database_url)
    try:
        store = KeyStore(database.sessionmaker, passphrase)
        async with database.sessionmaker() as session:
            signer = await store.signer(session)
            await session.commit()
        return signer.kid, signer.private_key
    finally:
        await database.dispose()


def sign(claims: dict[str, Any], key: rsa.RSAPrivateKey, kid: str, typ: str = "at+jwt") -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, "typ": typ})


def unsigned(claims: dict[str, Any], kid: str) -> str:
    header = {"alg": "none", "typ": "at+jwt", "kid": kid}
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}."


def hs256_with_public_key(claims: dict[str, Any], public_pem: str, kid: str) -> str:
    """The classic algorithm-confusion attack: HMAC keyed with the RSA public key."""
    header = {"alg": "HS256", "typ": "at+jwt", "kid": kid}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"
