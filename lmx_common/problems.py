"""RFC 9457 problem details for every error, including the framework's own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, routing
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import Scope

PROBLEM_MEDIA_TYPE = "application/problem+json"
# Problem types are relative URIs; the gateway serves a description of each at /problems/<slug>.
PROBLEM_PATH = "/problems/"

# slug -> (title, description). The one list of problem types; docs/problems.md mirrors it.
PROBLEM_TYPES: dict[str, tuple[str, str]] = {
    "invalid-input": ("Invalid input", "One or more parameters are invalid; see invalidParams."),
    "unauthorized": ("Unauthorized", "No valid bearer token was presented."),
    "forbidden": ("Forbidden", "The token is valid but lacks a scope this operation requires."),
    "processing-activity-required": (
        "Processing activity required",
        "A person-level request names its processing activity in the X-Processing-Activity header.",
    ),
    "processing-activity-not-allowed": (
        "Processing activity not allowed",
        "The named processing activity is unknown, or does not cover this action for the caller's party type.",
    ),
    "not-found": ("Not found", "The resource does not exist or is not visible to the caller."),
    "method-not-allowed": ("Method not allowed", "The resource does not support this method."),
    "not-acceptable": ("Not acceptable", "No acceptable representation is available."),
    "conflict": ("Conflict", "The request conflicts with the current state of the resource."),
    "precondition-failed": ("Precondition failed", "The If-Match header does not match the current ETag."),
    "precondition-required": ("Precondition required", "This update requires an If-Match header."),
    "payload-too-large": ("Payload too large", "The request body exceeds the limit."),
    "unsupported-media-type": ("Unsupported media type", "The request body has an unsupported type."),
    "unprocessable": ("Unprocessable request", "The request is well-formed but cannot be processed."),
    "request-header-fields-too-large": (
        "Request header fields too large",
        "The request's headers are larger in total, or more in number, than this component accepts.",
    ),
    "too-many-requests": ("Too many requests", "The client exceeded its rate limit; see Retry-After."),
    "internal-error": ("Internal error", "An unexpected error occurred; it has been logged."),
    "service-unavailable": ("Service unavailable", "A dependency of this component is unavailable."),
    "gateway-bad-upstream-response": (
        "Bad response from upstream service",
        "The gateway answered: the upstream service closed the connection or sent an invalid response.",
    ),
    "gateway-upstream-unavailable": (
        "Upstream service unavailable",
        "The gateway answered: it could not connect to the upstream service within the connect timeout.",
    ),
    "gateway-upstream-timeout": (
        "Upstream service timed out",
        "The gateway answered: the upstream service did not respond within the read timeout.",
    ),
}

_STATUS_SLUGS = {
    400: "invalid-input",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    412: "precondition-failed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "unprocessable",
    428: "precondition-required",
    429: "too-many-requests",
    431: "request-header-fields-too-large",
    503: "service-unavailable",
}


def problem_type(slug: str) -> str:
    return PROBLEM_PATH + slug


# RFC 3986 path characters besides unreserved ones; everything else (non-ASCII, space, %) is encoded.
_PATH_SAFE = "/!$&'()*+,;=:@"


def uri_path(path: str) -> str:
    """A decoded path as a URI reference (RFC 3986): UTF-8, percent-encoded where a path needs it."""
    return quote(path, safe=_PATH_SAFE)


def public_path(scope: Scope) -> str:
    """The decoded path the caller used: behind the gateway with its prefix (X-Forwarded-Prefix)."""
    prefix = ""
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-prefix":
            prefix = value.decode("latin-1")
            break
    path: str = scope["path"]
    return prefix + path


@dataclass
class InvalidParam:
    """One invalid parameter, as in the NL GOV API Design Rules problem extension."""

    name: str
    reason: str
    code: str = "invalid"
    location: str | None = None

    def as_dict(self) -> dict[str, str]:
        item = {"name": self.name, "code": self.code, "reason": self.reason}
        if self.location:
            item["in"] = self.location
        return item


@dataclass
class ProblemError(Exception):
    """A domain or HTTP error that renders as problem+json."""

    status: int
    detail: str
    slug: str | None = None
    title: str | None = None
    invalid_params: Sequence[InvalidParam] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.detail)


def invalid_input(params: Sequence[InvalidParam], detail: str | None = None) -> ProblemError:
    return ProblemError(
        400, detail or f"{len(params)} invalid parameter(s).", slug="invalid-input", invalid_params=params
    )


def problem_body(
    status: int,
    detail: str,
    instance: str,
    slug: str | None = None,
    title: str | None = None,
    invalid_params: Sequence[InvalidParam] = (),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The problem+json body; ``instance`` is the decoded path, percent-encoded here (RFC 3986)."""
    slug = slug or _STATUS_SLUGS.get(status, "internal-error")
    default_title = PROBLEM_TYPES.get(slug, (HTTPStatus(status).phrase, ""))[0]
    body: dict[str, Any] = {
        "type": problem_type(slug),
        "title": title or default_title,
        "status": status,
        "detail": detail,
        "instance": uri_path(instance),
    }
    if invalid_params:
        body["invalidParams"] = [p.as_dict() for p in invalid_params]
    if extra:
        body.update(extra)
    return body


def problem_response(
    request: Request | None,
    status: int,
    detail: str,
    slug: str | None = None,
    headers: Mapping[str, str] | None = None,
    invalid_params: Sequence[InvalidParam] = (),
    title: str | None = None,
    extra: Mapping[str, Any] | None = None,
    instance: str | None = None,
) -> JSONResponse:
    if instance is not None:
        path = instance
    elif request is not None:  # behind the gateway, the path the caller used
        path = public_path(request.scope)
    else:
        path = ""
    body = problem_body(status, detail, path, slug, title, invalid_params, extra)
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE)


def _location_and_name(loc: Sequence[int | str]) -> tuple[str | None, str]:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"query", "path", "header", "cookie", "body"}:
        location, rest = parts[0], parts[1:]
        return location, ".".join(rest) if rest else location
    return None, ".".join(parts)


def validation_params(errors: Sequence[Any]) -> list[InvalidParam]:
    params = []
    for error in errors:
        location, name = _location_and_name(error.get("loc", ()))
        params.append(
            InvalidParam(
                name=name or "body",
                reason=str(error.get("msg", "invalid")).removeprefix("Value error, "),
                code=str(error.get("type", "invalid")),
                location=location,
            )
        )
    return params


async def _problem_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(
        request,
        exc.status,
        exc.detail,
        exc.slug,
        exc.headers,
        exc.invalid_params,
        exc.title,
        exc.extra,
    )


def allowed_methods(request: Request) -> list[str]:
    """Every method of every route at this path (a route answers one or more), HEAD beside GET."""
    probe = dict(request.scope, method="")  # no route takes "", so each one at this path matches partially
    methods: set[str] = set()
    for route in routing.iter_route_contexts(request.app.router.routes):
        if route.methods and route.matches(probe)[0] != Match.NONE:
            methods |= route.methods
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


async def _http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    headers = dict(exc.headers or {})
    if exc.status_code == 404 and detail == "Not Found":
        detail = "No resource at this path."
    elif exc.status_code == 405:
        # Starlette names the methods of the first route at this path only; RFC 9110 15.5.6 wants them all.
        methods = allowed_methods(request)
        if methods:
            headers["Allow"] = ", ".join(methods)
        detail = f"{request.method} is not allowed here; see Allow."
    return problem_response(request, exc.status_code, detail, headers=headers)


JSON_MEDIA_TYPE = "application/json"
# RFC 5789 names Accept-Patch; Accept-Post (W3C LDP, registered with IANA) is its POST counterpart.
_ACCEPT_HEADER = {"POST": "Accept-Post", "PATCH": "Accept-Patch"}


def is_json_media_type(content_type: str | None) -> bool:
    """``application/json`` or a ``+json`` type (as FastAPI parses), parameters ignored."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == JSON_MEDIA_TYPE or (media_type.startswith("application/") and media_type.endswith("+json"))


def _body_not_json(request: Request, errors: Sequence[Any]) -> bool:
    """The body as a whole was refused, and it was not sent as JSON: FastAPI did not parse it at all."""
    whole_body = any(tuple(error.get("loc", ())) == ("body",) for error in errors)
    return whole_body and not is_json_media_type(request.headers.get("content-type"))


async def _validation_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if _body_not_json(request, errors):
        # RFC 9110 15.5.16: 415, naming the media type the operation takes.
        sent = request.headers.get("content-type")
        header = _ACCEPT_HEADER.get(request.method)
        return problem_response(
            request,
            415,
            f"Send the body as {JSON_MEDIA_TYPE}" + (f", not {sent[:100]}." if sent else " (no Content-Type sent)."),
            "unsupported-media-type",
            headers={header: JSON_MEDIA_TYPE} if header else None,
        )
    params = validation_params(errors)
    return problem_response(
        request, 400, f"{len(params)} invalid parameter(s).", "invalid-input", invalid_params=params
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _problem_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)


def problem_openapi_response(description: str) -> dict[str, Any]:
    """An entry for a route's ``responses=`` so the OpenAPI documents the problem body."""
    return {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


# The errors every service raises; a service's errors.py holds only its domain-specific ones.


def not_found(what: str) -> ProblemError:
    # The same answer whether the resource does not exist or is not visible to the caller.
    return ProblemError(404, f"No {what} with this id.", slug="not-found")


def forbidden(detail: str) -> ProblemError:
    return ProblemError(403, detail, slug="forbidden")


def conflict(detail: str) -> ProblemError:
    return ProblemError(409, detail, slug="conflict")


def invalid(*params: InvalidParam) -> ProblemError:
    return invalid_input(list(params))


def changed_concurrently(what: str) -> ProblemError:
    return conflict(f"The {what} was changed by another request at the same moment; read it again.")


def precondition_failed(current_etag: str, what: str = "resource") -> ProblemError:
    """412: If-Match does not match; the answer carries the current ETag."""
    return ProblemError(
        412,
        f"The {what} changed since you read it; read it again.",
        slug="precondition-failed",
        headers={"ETag": current_etag},
    )


def precondition_required(what: str = "resource") -> ProblemError:
    """428: an update without If-Match."""
    return ProblemError(428, f"Send If-Match with the ETag of the {what} you read.", slug="precondition-required")


def unavailable(detail: str, retry_after: int = 30) -> ProblemError:
    return ProblemError(503, detail, slug="service-unavailable", headers={"Retry-After": str(retry_after)})
