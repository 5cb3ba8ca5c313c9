"""The housing service's calls through the gateway carry the trace of the request (or job run) that makes
them, tracestate included, with tracing switched off: a fair-share request stays one trace in the logs."""

from __future__ import annotations

from typing import Any

from lmx_common.tracing import child_of, trace_context_var
from services.housing.clients import GatewayClient, http_client
from services.housing.config import HousingSettings
from tests.support.servers import serve


def recording_gateway() -> tuple[Any, list[tuple[str, dict[str, str]]]]:
    """A gateway stand-in: a token at /oauth/token, an empty page anywhere else; keeps every request's headers."""
    seen: list[tuple[str, dict[str, str]]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        while (await receive()).get("more_body"):
            pass
        seen.append((scope["path"], {k.decode(): v.decode() for k, v in scope["headers"]}))
        body = b'{"access_token": "t", "expires_in": 300}' if scope["path"] == "/oauth/token" else b'{"items": []}'
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    return app, seen


async def test_calls_through_the_gateway_carry_the_requests_trace_and_tracestate():
    app, seen = recording_gateway()
    with serve(app) as url:
        settings = HousingSettings(gateway_url=url, client_secret="not-a-real-secret")
        async with http_client(settings) as http:
            client = GatewayClient(http, settings)
            request = child_of("00-" + "12" * 16 + "-" + "34" * 8 + "-01", "caller=abc")
            token = trace_context_var.set(request)  # as the request middleware sets it
            try:
                assert await client.get_json("/registry/v1/statistics/work-residence") == {"items": []}
            finally:
                trace_context_var.reset(token)
            assert await client.get_json("/registry/v1/statistics/work-residence") == {"items": []}
    (token_path, token_headers), (path, headers), (_, outside) = seen
    assert (token_path, path) == ("/oauth/token", "/registry/v1/statistics/work-residence")
    for sent in (token_headers, headers):
        # The callee's parent is the housing request's span, in the caller's trace.
        assert sent["traceparent"] == f"00-{'12' * 16}-{request.span_id}-01"
        assert sent["tracestate"] == "caller=abc"
    assert "traceparent" not in outside and "tracestate" not in outside  # no request, no trace to carry on
