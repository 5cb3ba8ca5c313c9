"""The gateway's human-facing pages: the API index, Swagger UI per service, and the problem type descriptions.

Swagger UI's files come from the pinned PyPI package ``fastapi-offline`` (Swagger UI 5, which reads
the services' OpenAPI 3.1 documents), served under ``/docs/assets/``; nothing is loaded from a CDN.
Its start-up script is a static file of ours (gateway/static/swagger-init.js), so the page's
Content-Security-Policy allows no inline script.
"""

from __future__ import annotations

import html
from importlib.resources import files
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, RootModel

from gateway.edge import GATEWAY_PROBLEM_TYPES
from lmx_common.problems import PROBLEM_TYPES as SHARED_PROBLEM_TYPES
from lmx_common.problems import ProblemError
from lmx_common.schemas import examples

router = APIRouter(tags=["documentation"])

SERVICES = {
    "registry": "Registrations of labour migrants, visibility rules, processing log, statistics.",
    "certification": "Certification status of agencies and landlords, abuse reports, events.",
    "housing": "Housing capacity, fair share across the region, people at risk.",
}
# The shared catalogue and the gateway's own types (request limits, upstream failures).
PROBLEM_TYPES = SHARED_PROBLEM_TYPES | GATEWAY_PROBLEM_TYPES
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
# Swagger UI: its own scripts and stylesheet only; it fetches the document and calls the API and the
# token endpoint on this origin; its icons are data: URIs.
SWAGGER_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_VENDOR = Path(str(files("fastapi_offline") / "static"))
# Name under /docs/assets/ -> (file, media type); nothing else is served from there.
ASSETS = {
    "swagger-ui-bundle.js": (_VENDOR / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (_VENDOR / "swagger-ui.css", "text/css"),
    "favicon.png": (_VENDOR / "favicon.png", "image/png"),
    "swagger-init.js": (Path(__file__).parent / "static" / "swagger-init.js", "text/javascript"),
}


def _page(title: str, body: str) -> HTMLResponse:
    document = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:48rem;margin:2rem auto;line-height:1.5}"
        "code{background:#f3f3f3;padding:0 .2em}</style></head>"
        f"<body>{body}</body></html>"
    )
    return HTMLResponse(document, headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"})


@router.get("/docs", response_class=HTMLResponse, summary="Index of every service's OpenAPI")
async def docs_index(request: Request) -> HTMLResponse:
    issuer = html.escape(request.app.state.settings.issuer)
    items = "".join(
        f"<li><strong><a href='/docs/{name}'>{name}</a></strong> — {html.escape(text)}<br>"
        f"Interactive: <a href='/docs/{name}'><code>/docs/{name}</code></a> · "
        f"<a href='/{name}/v1/openapi.json'><code>/{name}/v1/openapi.json</code></a></li>"
        for name, text in SERVICES.items()
    )
    body = (
        "<h1>Labour Migration Exchange — APIs</h1>"
        "<p>Every call goes through this gateway with an OAuth 2.0 access token "
        f"(client credentials at <code>{issuer}/oauth/token</code>).</p>"
        f"<h2>Services</h2><ul>{items}</ul>"
        "<h2>Gateway</h2><ul>"
        "<li><a href='/openapi.json'><code>/openapi.json</code></a> — token endpoint and discovery "
        "(health: <code>/health/live</code>, <code>/health/ready</code>)</li>"
        "<li><a href='/.well-known/oauth-authorization-server'>Authorization server metadata</a></li>"
        "<li><a href='/.well-known/jwks.json'>JWKS</a></li>"
        "<li><a href='/problems'>Problem types</a></li></ul>"
    )
    return _page("Labour Migration Exchange — APIs", body)


@router.get("/docs/assets/{name}", summary="Swagger UI's files", include_in_schema=False)
async def docs_asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise ProblemError(404, "No such file.", slug="not-found")
    path, media_type = ASSETS[name]
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"})


@router.get("/docs/{service}", response_class=HTMLResponse, summary="Swagger UI for one service")
async def docs_service(
    service: Annotated[str, PathParam(description="The service: registry, certification or housing.")],
) -> HTMLResponse:
    if service not in SERVICES:
        raise ProblemError(404, "No such service.", slug="not-found")
    title = f"Labour Migration Exchange — {service} API"
    document = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<link rel='icon' type='image/png' href='/docs/assets/favicon.png'>"
        "<link rel='stylesheet' href='/docs/assets/swagger-ui.css'></head>"
        f"<body><div id='swagger-ui' data-openapi-url='/{service}/v1/openapi.json'></div>"
        "<script src='/docs/assets/swagger-ui-bundle.js'></script>"
        "<script src='/docs/assets/swagger-init.js'></script></body></html>"
    )
    return HTMLResponse(document, headers={"Content-Security-Policy": SWAGGER_CSP, "Cache-Control": "no-cache"})


class ProblemTypeRead(BaseModel):
    title: str
    description: str


class ProblemTypeIndex(RootModel[dict[str, ProblemTypeRead]]):
    """Every problem type by its name (the last part of a problem's `type` URI)."""

    model_config = ConfigDict(
        json_schema_extra=examples(
            {
                "invalid-input": {
                    "title": "Invalid input",
                    "description": "One or more parameters are invalid; see invalidParams.",
                },
                "too-many-requests": {
                    "title": "Too many requests",
                    "description": "The client exceeded its rate limit; see Retry-After.",
                },
            }
        )
    )


@router.get(
    "/problems",
    summary="Every problem type the exchange answers with",
    responses={200: {"model": ProblemTypeIndex}},
)
async def problem_index() -> JSONResponse:
    return JSONResponse({slug: {"title": t, "description": d} for slug, (t, d) in PROBLEM_TYPES.items()})


@router.get("/problems/{slug}", response_class=HTMLResponse, summary="One problem type, described")
async def problem_page(
    slug: Annotated[str, PathParam(description="The problem type's name, the last part of its `type` URI.")],
) -> HTMLResponse:
    if slug not in PROBLEM_TYPES:
        raise ProblemError(404, "No such problem type.", slug="not-found")
    title, description = PROBLEM_TYPES[slug]
    return _page(
        title,
        f"<h1>{html.escape(title)}</h1><p>{html.escape(description)}</p>"
        f"<p>Type: <code>/problems/{html.escape(slug)}</code></p>",
    )
