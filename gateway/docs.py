"""The gateway's human-facing pages: the API index and the problem type descriptions."""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from gateway.edge import GATEWAY_PROBLEM_TYPES
from lmx_common.problems import PROBLEM_TYPES as SHARED_PROBLEM_TYPES
from lmx_common.problems import ProblemError

router = APIRouter(tags=["documentation"])

SERVICES = {
    "registry": "Registrations of labour migrants, visibility rules, processing log, statistics.",
    "certification": "Certification status of agencies and landlords, abuse reports, events.",
    "housing": "Housing capacity, fair share across the region, people at risk.",
}
# The shared catalogue and the gateway's own types (request limits, upstream failures).
PROBLEM_TYPES = SHARED_PROBLEM_TYPES | GATEWAY_PROBLEM_TYPES
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


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
        f"<li><strong>{name}</strong> — {html.escape(text)}<br>"
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


@router.get("/problems", summary="Every problem type the exchange answers with")
async def problem_index() -> JSONResponse:
    return JSONResponse({slug: {"title": t, "description": d} for slug, (t, d) in PROBLEM_TYPES.items()})


@router.get("/problems/{slug}", response_class=HTMLResponse, summary="One problem type, described")
async def problem_page(slug: str) -> HTMLResponse:
    if slug not in PROBLEM_TYPES:
        raise ProblemError(404, "No such problem type.", slug="not-found")
    title, description = PROBLEM_TYPES[slug]
    return _page(
        title,
        f"<h1>{html.escape(title)}</h1><p>{html.escape(description)}</p>"
        f"<p>Type: <code>/problems/{html.escape(slug)}</code></p>",
    )
