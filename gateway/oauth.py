"""OAuth 2.0 client credentials (RFC 6749 4.4) with client_secret_basic and private_key_jwt (RFC 7523)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs, unquote_plus

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.clients import SecretVerifier, VerifierBusy, get_client
from gateway.config import GatewaySettings
from gateway.keys import KeyStore
from gateway.models import Client, UsedAssertion
from lmx_common.app import NO_UNSUPPORTED_MEDIA_TYPE
from lmx_common.db import request_session
from lmx_common.metrics import TOKEN_REQUESTS
from lmx_common.problems import ProblemError, problem_openapi_response
from lmx_common.schemas import examples
from lmx_common.scopes import SCOPES

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = ["RS256", "PS256", "ES256"]

router = APIRouter(tags=["oauth"])
SessionDep = Annotated[AsyncSession, Depends(request_session, scope="function")]


class OAuthError(Exception):
    """An RFC 6749 section 5.2 error response."""

    def __init__(
        self,
        error: str,
        description: str,
        status: int = 400,
        basic_challenge: bool = False,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.basic_challenge = basic_challenge
        self.retry_after = retry_after

    def response(self) -> JSONResponse:
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        if self.status == 401:
            headers["WWW-Authenticate"] = (
                'Basic realm="labour-migration-exchange"'
                if self.basic_challenge
                else 'Bearer realm="labour-migration-exchange"'
            )
        return JSONResponse(
            {"error": self.error, "error_description": self.description}, status_code=self.status, headers=headers
        )


async def oauth_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OAuthError)
    TOKEN_REQUESTS.labels(exc.error).inc()  # only the token endpoint raises OAuthError
    return exc.response()


class TokenResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra=examples(
            {
                "access_token": "eyJhbGciOiJSUzI1NiIsImtpZCI6IjJtVnBfcTN3IiwidHlwIjoiYXQrand0In0"
                ".eyJpc3MiOiJodHRwczovL2FwaS5sbXguZXhhbXBsZS5ubCIsInN1YiI6Im1pcC13ZXN0LWJyYWJhbnQifQ"
                ".c2lnbmF0dXJlLW9mLXRoZS1nYXRld2F5cy1zaWduaW5nLWtleQ",
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "registry:read registry:write",
            }
        )
    )

    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - not a secret
    expires_in: int
    scope: str


class AuthorizationServerMetadata(BaseModel):
    """RFC 8414 authorization server metadata (documentation of the answer; the standard's own names)."""

    model_config = ConfigDict(
        json_schema_extra=examples(
            {
                "issuer": "https://api.lmx.example.nl",
                "token_endpoint": "https://api.lmx.example.nl/oauth/token",
                "jwks_uri": "https://api.lmx.example.nl/.well-known/jwks.json",
                "grant_types_supported": ["client_credentials"],
                "response_types_supported": [],
                "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
                "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
                "scopes_supported": ["registry:read", "registry:statistics", "registry:write"],
                "service_documentation": "https://api.lmx.example.nl/docs",
            }
        )
    )

    issuer: str
    token_endpoint: str
    jwks_uri: str
    grant_types_supported: list[str]
    response_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    token_endpoint_auth_signing_alg_values_supported: list[str]
    scopes_supported: list[str]
    service_documentation: str


class JsonWebKey(BaseModel):
    """A public RSA key that verifies access tokens (RFC 7517)."""

    model_config = ConfigDict(extra="allow")

    kty: str
    kid: str = Field(description="RFC 7638 thumbprint; the `kid` in an access token's header.")
    use: str
    alg: str
    n: str
    e: str


class JsonWebKeySet(BaseModel):
    """The published keys: the signing key and any retired one still within its tokens' lifetime."""

    model_config = ConfigDict(
        json_schema_extra=examples(
            {
                "keys": [
                    {
                        "kty": "RSA",
                        "kid": "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
                        "use": "sig",
                        "alg": "RS256",
                        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6"
                        "tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65Y"
                        "GjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
                        "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
                        "e": "AQAB",
                    }
                ]
            }
        )
    )

    keys: list[JsonWebKey]


def _form(body: bytes) -> dict[str, str]:
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise OAuthError("invalid_request", "The body is not valid UTF-8.") from exc
    repeated = sorted(k for k, v in parsed.items() if len(v) > 1)
    if repeated:
        raise OAuthError("invalid_request", "Parameters repeated: " + ", ".join(repeated))
    return {k: v[0] for k, v in parsed.items()}


def _basic_credentials(header: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise OAuthError("invalid_client", "Malformed Basic credentials.", 401, basic_challenge=True) from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError("invalid_client", "Malformed Basic credentials.", 401, basic_challenge=True)
    # RFC 6749 2.3.1: both parts are form-urlencoded before Base64.
    return unquote_plus(client_id), unquote_plus(secret)


async def _authenticate_basic(
    session: AsyncSession, header: str, form: dict[str, str], verifier: SecretVerifier
) -> Client:
    client_id, secret = _basic_credentials(header)
    client = await get_client(session, client_id)
    try:
        verified = await verifier.verify(client, secret)
    except VerifierBusy as exc:
        raise OAuthError(
            "temporarily_unavailable", "Too many token requests at once; retry shortly.", 503, retry_after=1
        ) from exc
    if not verified or client is None or client.disabled:
        raise OAuthError("invalid_client", "Client authentication failed.", 401, basic_challenge=True)
    if "client_id" in form and form["client_id"] != client_id:
        raise OAuthError("invalid_client", "client_id does not match the authenticated client.", 401)
    return client


async def _authenticate_assertion(session: AsyncSession, form: dict[str, str], settings: GatewaySettings) -> Client:
    failed = OAuthError("invalid_client", "Client authentication failed.", 401)
    if form.get("client_assertion_type") != JWT_BEARER:
        raise OAuthError("invalid_client", f"client_assertion_type must be {JWT_BEARER}.", 401)
    assertion = form.get("client_assertion", "")
    if len(assertion) > 8192:
        raise failed
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise failed from exc
    issuer = unverified.get("iss")
    client = await get_client(session, issuer) if isinstance(issuer, str) else None
    if client is None or client.disabled or not client.public_key_pem:
        raise failed
    try:
        claims: dict[str, Any] = jwt.decode(
            assertion,
            load_pem_public_key(client.public_key_pem.encode()),  # type: ignore[arg-type]
            algorithms=ASSERTION_ALGORITHMS,
            audience=[settings.token_endpoint, settings.issuer],
            leeway=settings.token_leeway_seconds,
            options={"require": ["iss", "sub", "aud", "exp", "jti"]},
        )
    except (jwt.PyJWTError, TypeError, ValueError) as exc:  # TypeError: an alg that does not fit the key
        reason = (
            "expired"
            if isinstance(exc, jwt.ExpiredSignatureError)
            else "wrong audience"
            if isinstance(exc, jwt.InvalidAudienceError)
            else "invalid"
        )
        raise OAuthError("invalid_client", f"Client assertion rejected ({reason}).", 401) from exc
    if claims["sub"] != client.client_id or ("client_id" in form and form["client_id"] != client.client_id):
        raise OAuthError("invalid_client", "iss, sub and client_id must all be the client id.", 401)
    now = time.time()
    if claims["exp"] - now > settings.max_assertion_lifetime_seconds + settings.token_leeway_seconds:
        raise OAuthError("invalid_client", "The client assertion lives too long.", 401)
    if "iat" in claims and claims["iat"] > now + settings.token_leeway_seconds:
        raise OAuthError("invalid_client", "The client assertion was issued in the future.", 401)
    # Single use: the (client, jti) pair is stored until the assertion expires; a replay hits the key.
    expires = datetime.fromtimestamp(claims["exp"] + settings.token_leeway_seconds, UTC)
    await session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at < datetime.now(UTC)))
    session.add(UsedAssertion(client_id=client.client_id, jti=jti_key(claims["jti"]), expires_at=expires))
    try:
        await session.flush()
    except IntegrityError as exc:
        raise OAuthError("invalid_client", "The client assertion was already used.", 401) from exc
    return client


def jti_key(jti: object) -> str:
    """What the used-assertion table stores for a jti: a SHA-256 of all of it (71 characters).

    The column holds 200 characters; storing the jti cut to that length made two long jtis that share
    their first 200 characters one (the second assertion refused as a replay, RFC 7523 3 wants the
    whole value compared). A hash compares all of it and fits the column as it is.
    """
    return "sha256:" + hashlib.sha256(str(jti).encode("utf-8")).hexdigest()


@router.post(
    "/oauth/token",
    operation_id="requestAccessToken",
    response_model=TokenResponse,
    summary="Get an access token (client credentials)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["client_credentials"]},
                            "scope": {
                                "type": "string",
                                "description": "Space-separated scopes; all allowed if absent.",
                            },
                            "client_id": {"type": "string"},
                            "client_assertion_type": {"type": "string", "enum": [JWT_BEARER]},
                            "client_assertion": {"type": "string", "description": "RFC 7523 client assertion."},
                        },
                    },
                    "example": {"grant_type": "client_credentials", "scope": "registry:read registry:statistics"},
                }
            },
        },
        # A body not form-encoded is an RFC 6749 invalid_request (400), not a 415.
        **NO_UNSUPPORTED_MEDIA_TYPE,
    },
    responses={
        400: {"description": "RFC 6749 error (invalid_request, invalid_scope, unsupported_grant_type)"},
        401: {"description": "RFC 6749 invalid_client"},
        429: problem_openapi_response("Too many token requests from this address; retry after Retry-After."),
        503: {
            "description": "`temporarily_unavailable`: too many client secrets being verified at once; "
            "retry after the seconds in Retry-After"
        },
    },
)
async def token(request: Request, session: SessionDep) -> JSONResponse:
    settings: GatewaySettings = request.app.state.settings
    retry = await request.app.state.rate_limiter.check(
        "token:" + (request.client.host if request.client else "unknown"), anonymous=True
    )
    if retry is not None:
        TOKEN_REQUESTS.labels("rate_limited").inc()
        raise ProblemError(
            429, "Too many token requests.", slug="too-many-requests", headers={"Retry-After": str(int(retry))}
        )
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "Use application/x-www-form-urlencoded.")
    form = _form(await request.body())
    grant_type = form.get("grant_type")
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is required.")
    if grant_type != "client_credentials":
        raise OAuthError("unsupported_grant_type", "Only client_credentials is supported.")

    authorization = request.headers.get("authorization", "")
    if authorization[:6].lower() == "basic ":
        if "client_assertion" in form:
            raise OAuthError("invalid_request", "Use one client authentication method, not two.")
        client = await _authenticate_basic(session, authorization, form, request.app.state.secret_verifier)
    elif "client_assertion" in form:
        client = await _authenticate_assertion(session, form, settings)
    else:
        raise OAuthError("invalid_client", "Client authentication is required.", 401, basic_challenge=True)

    allowed = client.scope_set
    requested = frozenset(form["scope"].split()) if form.get("scope", "").strip() else allowed
    if not requested <= allowed:
        raise OAuthError("invalid_scope", "Not allowed for this client: " + " ".join(sorted(requested - allowed)))

    store: KeyStore = request.app.state.key_store
    signer = await store.signer(session)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "aud": settings.token_audience,
        "sub": client.client_id,
        "client_id": client.client_id,
        "jti": str(uuid.uuid4()),
        "iat": now,
        "nbf": now,
        "exp": now + settings.token_ttl_seconds,
        "scope": " ".join(sorted(requested)),
        "org": client.organisation_oin,
        "org_type": client.organisation_type,
    }
    if client.municipality_code:
        claims["municipality_code"] = client.municipality_code
    if client.province_code:
        claims["province_code"] = client.province_code
    access_token = jwt.encode(
        claims, signer.private_key, algorithm="RS256", headers={"kid": signer.kid, "typ": "at+jwt"}
    )
    body = TokenResponse(access_token=access_token, expires_in=settings.token_ttl_seconds, scope=claims["scope"])
    TOKEN_REQUESTS.labels("issued").inc()
    return JSONResponse(body.model_dump(), headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@router.get(
    "/.well-known/oauth-authorization-server",
    operation_id="getAuthorizationServerMetadata",
    summary="Authorization server metadata (RFC 8414)",
    responses={200: {"model": AuthorizationServerMetadata}},
)
async def metadata(request: Request) -> JSONResponse:
    settings: GatewaySettings = request.app.state.settings
    issuer = settings.issuer.rstrip("/")
    return JSONResponse(
        {
            "issuer": settings.issuer,
            "token_endpoint": settings.token_endpoint,
            "jwks_uri": issuer + "/.well-known/jwks.json",
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
            "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
            "scopes_supported": sorted(SCOPES),
            "service_documentation": issuer + "/docs",
        },
        headers={"Cache-Control": "max-age=300"},
    )


@router.get(
    "/.well-known/jwks.json",
    operation_id="getJsonWebKeySet",
    summary="The public keys that verify access tokens",
    responses={200: {"model": JsonWebKeySet}},
)
async def jwks(request: Request, session: SessionDep) -> JSONResponse:
    store: KeyStore = request.app.state.key_store
    return JSONResponse(await store.jwks(session), headers={"Cache-Control": "max-age=60"})
