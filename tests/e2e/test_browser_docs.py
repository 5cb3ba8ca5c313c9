"""Swagger UI and CORS in a real headless browser: the machine's chromium, driven by Playwright.

Playwright cannot download its own browsers here; it drives Debian's /usr/bin/chromium (installed by
.ci/run). Screenshots land in test-artefacts/ (gitignored); their paths are printed.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI

pytestmark = [pytest.mark.e2e, pytest.mark.one_backend]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artefacts"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        if IN_CI:
            pytest.fail("chromium is required under CI=true (.ci/run installs it)")
        pytest.skip("no chromium on this machine: apt-get install -y chromium")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@contextmanager
def blank_page_server(host: str) -> Iterator[str]:
    """A tiny static server: an empty HTML page on another origin than the gateway's."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><html><head><title>other origin</title></head><body>page</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def screenshot_path(name: str) -> Path:
    ARTEFACTS.mkdir(exist_ok=True)
    return ARTEFACTS / name


async def execute(page: Any, method: str, path: str) -> str:
    """Expand an operation, Try it out, Execute; the status Swagger UI shows."""
    block = page.locator(f".opblock-{method}", has=page.locator(f".opblock-summary-path[data-path='{path}']"))
    await block.locator(".opblock-summary").first.click()
    await block.locator("button.try-out__btn").click()
    await block.locator("button.execute").click()
    status = block.locator(".live-responses-table tbody tr.response .response-col_status").first
    await status.wait_for(timeout=15_000)
    return str((await status.inner_text()).strip())


async def test_swagger_ui_authorize_and_try_it_out(stack, browser):
    client_id, secret = await stack.register_client(scopes=("registry:read",))
    page = await browser.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    # What Try it out calls: the document's first server (`/registry/v1`) plus the path.
    called: list[str] = []
    page.on("request", lambda request: called.append(request.url) if "/municipalities" in request.url else None)
    try:
        await page.goto(stack.gateway + "/docs/registry")
        await page.locator(".information-container .title").wait_for(timeout=15_000)
        # Authorize: client credentials against the document's tokenUrl (this gateway's /oauth/token).
        await page.locator(".auth-wrapper button.authorize").click()
        dialog = page.locator(".dialog-ux")
        await dialog.locator("input[id^='client_id']").fill(client_id)
        await dialog.locator("input[id^='client_secret']").fill(secret or "")
        await dialog.locator("button.modal-btn.authorize").click()
        await dialog.locator("button.modal-btn.authorize", has_text="Logout").wait_for(timeout=15_000)
        await dialog.locator("button.btn-done").click()

        assert await execute(page, "get", "/municipalities") == "200"
        # registry:statistics is not this client's: the gateway answers 403 and Swagger UI shows it.
        assert await execute(page, "get", "/statistics/municipalities") == "403"
        assert [url.split("?")[0] for url in called] == [
            stack.gateway + "/registry/v1/municipalities",
            stack.gateway + "/registry/v1/statistics/municipalities",
        ], called
        shot = screenshot_path("swagger-ui-registry.png")
        await page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
    finally:
        await page.close()
    # The 403 above is logged by the browser as a failed resource load; nothing else may be.
    unexpected = [e for e in errors if "status of 403" not in e]
    assert not unexpected, unexpected


FETCH = """async ([url, token]) => {
  try {
    const response = await fetch(url, {headers: {Authorization: "Bearer " + token}});
    return {status: response.status, version: response.headers.get("API-Version"),
            body: await response.json()};
  } catch (error) {
    return {error: String(error)};
  }
}"""


async def test_cors_from_an_allowed_and_a_disallowed_origin(stack, browser, http):
    token = await stack.client_token(http)
    url = stack.gateway + "/registry/v1/municipalities"
    # 127.0.0.1 on another port is another origin, allowed by the development default;
    # 127.0.0.2 (loopback too) is not in it.
    with blank_page_server("127.0.0.1") as allowed, blank_page_server("127.0.0.2") as disallowed:
        page = await browser.new_page()
        try:
            await page.goto(allowed + "/")
            ok = await page.evaluate(FETCH, [url, token])
            assert ok.get("status") == 200, ok
            assert ok["version"], ok  # an exposed header is readable by the page
            await page.goto(disallowed + "/")
            blocked = await page.evaluate(FETCH, [url, token])
            assert "error" in blocked and "Failed to fetch" in blocked["error"], blocked
            shot = screenshot_path("cors-disallowed.png")
            await page.screenshot(path=str(shot))
            print(f"screenshot: {shot}")
        finally:
            await page.close()
