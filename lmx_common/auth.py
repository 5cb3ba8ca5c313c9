"""Bearer-token verification (RFC 9068 access tokens, RFC 8725 rules) and the caller's principal."""

from __future__ import annotations

import asyncio
import enum
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

import httpx
import jwt
from fastapi import Depends, Request

from lmx_common.problems import ProblemError
from lmx_common.scopes import Scope

ALLOWED_ALGORITHMS = ["RS256"]
ACCESS_TOKEN_TYP = {"at+jwt", "application/at+jwt"}
REALM = "labour-migration-exchange"


class OrganisationType(enum.StrEnum):
    MUNICIPALITY = "municipality"
    INFORMATION_POINT = "information-point"
    PROVINCE = "province"
    NATIONAL = "national"
    INSPECTORATE = "inspectorate"
    CERTIFIER = "certifier"
    SERVICE = "service"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the client and the organisation it acts for, from a verified token."""

    client_id: str
    organisation_oin: str
    organisation_type: OrganisationType
    scopes: frozenset[str]
    token_id: str
    expires_at: int
    municipality_code: str | None = None
    province_code: str | None = None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def has_any_scope(self, *scopes: str) -> bool:
        return not self.scopes.isdisjoint(scopes)


class AuthError(ProblemError):
    """401 with an RFC 6750 WWW-Authenticate challenge."""

    def __init__(self, description: str, error: str | None = "invalid_token") -> None:
        challenge = f'Bearer realm="{REALM}"'
        if error:
            challenge += f', error="{error}", error_description="{description}"'
        super().__init__(401, description, slug="unauthorized", headers={"WWW-Authenticate": challenge})


def insufficient_scope(required: tuple[str, ...]) -> ProblemError:
    scope = " ".join(required)
    return ProblemError(
        403,
        f"This operation requires one of the scopes: {scope}.",
        slug="forbidden",
        headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="insufficient_scope", scope="{scope}"'},
    )


class KeySource(Protocol):
    async def key_for(self, kid: str) -> jwt.PyJWK | None:
        """The public key with this kid, refreshing the key set once when it is unknown."""


class JwksKeySource:
    """The gateway's JWKS fetched over HTTP, cached, and refreshed when an unknown kid shows up."""

    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        cache_seconds: float = 300,
        min_refresh_seconds: float = 1.0,
    ) -> None:
        self.url = url
        self.client = client
        self.cache_seconds = cache_seconds
        self.min_refresh_seconds = min_refresh_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def _refresh(self) -> None:
        response = await self.client.get(self.url, timeout=5.0)
        response.raise_for_status()
        keys: dict[str, jwt.PyJWK] = {}
        for data in response.json().get("keys", []):
            if data.get("kty") != "RSA" or "kid" not in data:
                continue
            try:
                keys[data["kid"]] = jwt.PyJWK(data, algorithm="RS256")
            except jwt.PyJWTError:
                continue
        self._keys = keys
        self._fetched_at = time.monotonic()

    async def key_for(self, kid: str) -> jwt.PyJWK | None:
        age = time.monotonic() - self._fetched_at
        if kid in self._keys and age < self.cache_seconds:
            return self._keys[kid]
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            if kid in self._keys and age < self.cache_seconds:
                return self._keys[kid]  # another request refreshed while we waited
            if kid not in self._keys and age < self.min_refresh_seconds:
                # A kid we do not know yet, just after a refresh: most likely a key rotated in a
                # moment ago. Wait out the minimum interval rather than refuse a valid token.
                await asyncio.sleep(self.min_refresh_seconds - age)
            try:
                await self._refresh()
            except (httpx.HTTPError, ValueError) as exc:
                if not self._keys:
                    raise ProblemError(
                        503, "The token issuer's keys could not be fetched.", slug="service-unavailable"
                    ) from exc
        return self._keys.get(kid)


class TokenVerifier:
    """Verifies access tokens completely; remembers verified tokens until they expire or their key goes."""

    def __init__(
        self,
        keys: KeySource,
        issuer: str,
        audience: str,
        leeway: int = 30,
        max_token_bytes: int = 8192,
        cache_size: int = 10_000,
        cache_seconds: float = 60.0,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.max_token_bytes = max_token_bytes
        self.cache_size = cache_size
        self.cache_seconds = cache_seconds  # kept for callers; the key source's own cache time governs
        # token (the exact string) -> (principal, kid, the key object that verified it). A hit stands
        # only while the key source still hands out that very key object: a key source re-reads its keys
        # every cache_seconds and builds new objects, so a withdrawn key stops working here as soon
        # as the key source notices (within cache_seconds), and a kept key costs one re-verification.
        self._cache: OrderedDict[str, tuple[Principal, str, jwt.PyJWK]] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        cached = self._cache.get(token)
        if cached is not None:
            principal, kid, key = cached
            if time.time() > principal.expires_at + self.leeway:
                del self._cache[token]
                raise AuthError("The access token has expired.")
            if await self.keys.key_for(kid) is key:
                return principal
            self._cache.pop(token, None)
        principal, kid, key = await self._verify_uncached(token)
        self._cache[token] = (principal, kid, key)
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return principal

    async def _verify_uncached(self, token: str) -> tuple[Principal, str, jwt.PyJWK]:
        if len(token) > self.max_token_bytes:
            raise AuthError("The access token is too large.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError("The access token is malformed.") from exc
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise AuthError("The access token's algorithm is not allowed.")
        if str(header.get("typ", "")).lower() not in ACCESS_TOKEN_TYP:
            raise AuthError("The token is not an access token (typ must be at+jwt).")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("The access token has no key id.")
        key = await self.keys.key_for(kid)
        if key is None:
            raise AuthError("The access token is signed with an unknown key.")
        try:
            # jku/x5u/jwk headers are never consulted: the key comes only from our own key source.
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=ALLOWED_ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti", "client_id", "org", "org_type"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("The access token has expired.") from exc
        except jwt.ImmatureSignatureError as exc:
            raise AuthError("The access token is not yet valid.") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthError("The access token is not meant for this API.") from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthError("The access token has an unknown issuer.") from exc
        except jwt.PyJWTError as exc:
            raise AuthError("The access token is invalid.") from exc
        return principal_from_claims(claims), kid, key


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    try:
        org_type = OrganisationType(claims["org_type"])
    except ValueError as exc:
        raise AuthError("The access token names an unknown organisation type.") from exc
    scope = claims.get("scope", "")
    if not isinstance(scope, str):
        raise AuthError("The access token's scope claim is invalid.")
    return Principal(
        client_id=str(claims["client_id"]),
        organisation_oin=str(claims["org"]),
        organisation_type=org_type,
        scopes=frozenset(scope.split()),
        token_id=str(claims["jti"]),
        expires_at=int(claims["exp"]),
        municipality_code=claims.get("municipality_code"),
        province_code=claims.get("province_code"),
    )


def bearer_token(request: Request, max_bytes: int) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise AuthError("A bearer token is required.", error=None)
    if len(header) > max_bytes:
        raise AuthError("The Authorization header is too large.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("The Authorization header must use the Bearer scheme.", error="invalid_request")
    return token.strip()


async def current_principal(request: Request) -> Principal:
    """The verified caller; a route that depends on this alone is open to any valid token."""
    verifier: TokenVerifier = request.app.state.token_verifier
    token = bearer_token(request, verifier.max_token_bytes)
    principal = await verifier.verify(token)
    request.state.client_id = principal.client_id
    request.state.principal = principal
    return principal


CallerDep = Annotated[Principal, Depends(current_principal)]


class RequiredScopes:
    """A dependency that passes callers holding at least one of ``any_of``.

    It is also the declaration: ``lmx_common.routes`` finds it on each route to write the
    operation's OpenAPI security requirement, from which the gateway's table is generated.
    """

    def __init__(self, any_of: tuple[Scope, ...]) -> None:
        if not any_of:
            raise ValueError("name at least one scope; for any valid token depend on CallerDep")
        self.any_of = any_of

    async def __call__(self, principal: CallerDep) -> Principal:
        if not principal.has_any_scope(*self.any_of):
            raise insufficient_scope(self.any_of)
        return principal

    def __repr__(self) -> str:
        return f"RequiredScopes({', '.join(self.any_of)})"


def require_scopes(*any_of: Scope) -> RequiredScopes:
    """The scopes a route needs (any one of them is enough); declare it once, on the endpoint."""
    return RequiredScopes(tuple(any_of))
