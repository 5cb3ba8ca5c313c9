"""A request the HTTP parser cannot read gets problem+json and the security headers, like every answer.

httptools answers such requests (a request line of 100 KB and more, bytes that are not HTTP) before
any application sees them; uvicorn's own answer is plain text.
"""

from __future__ import annotations

import json
import socket

import pytest

from lmx_cli.stack import UVICORN_ARGS
from lmx_common.http_protocol import PROTOCOL
from tests.support.servers import echo_app, serve


def _exchange(base: str, raw: bytes) -> tuple[str, dict[str, str], bytes]:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return status, headers, body


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /" + b"a" * 200_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",  # a URL of 200 KB
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # TLS spoken to a plain HTTP port
    ],
    ids=["url-200kb", "not-http"],
)
def test_an_unparsable_request_gets_problem_json(raw):
    with serve(echo_app(), http=PROTOCOL) as base:
        status, headers, body = _exchange(base, raw)
    assert status.startswith("HTTP/1.1 400"), status
    assert headers["content-type"] == "application/problem+json"
    assert headers["x-content-type-options"] == "nosniff" and headers["cache-control"] == "no-store"
    assert "date" in headers and headers["connection"] == "close"
    problem = json.loads(body)
    assert problem["status"] == 400 and problem["type"] == "/problems/invalid-input"
    assert {"title", "detail", "instance"} <= set(problem)
    assert int(headers["content-length"]) == len(body)


def test_the_stack_serves_every_process_with_this_protocol():
    assert UVICORN_ARGS[UVICORN_ARGS.index("--http") + 1] == PROTOCOL
