"""uvicorn's httptools protocol, answering an unparsable request with problem+json (RFC 9457).

httptools (llhttp) refuses some requests before any application sees them — a request line or
header block it cannot hold (URLs of about 100 KB and more), or bytes that are not HTTP — and
uvicorn then answers a plain-text ``400 Invalid HTTP request received.``. Every other answer of
the exchange is problem+json with the security headers, so this one is too. Serve with
``uvicorn --http lmx_common.http_protocol:ProblemHttpToolsProtocol`` (``lmx up`` does; the
deploy files as well).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from lmx_common.middleware import SECURITY_HEADERS
from lmx_common.problems import problem_body

PROTOCOL = "lmx_common.http_protocol:ProblemHttpToolsProtocol"
_DETAIL = "The request could not be read as HTTP (malformed, or its request line or headers are too long)."


def unparsable_request_response(default_headers: Sequence[tuple[bytes, bytes]] = ()) -> bytes:
    """The whole HTTP/1.1 answer to a request the parser refused; the connection closes after it.

    ``default_headers`` are the server's own (uvicorn's ``Date``), as on every other answer."""
    body = json.dumps(problem_body(400, _DETAIL, "", "invalid-input"), separators=(",", ":")).encode()
    head = [
        b"HTTP/1.1 400 Bad Request",
        *(name + b": " + value for name, value in default_headers),
        b"content-type: application/problem+json",
        b"content-length: " + str(len(body)).encode("ascii"),
        b"connection: close",
        *(name + b": " + value for name, value in SECURITY_HEADERS),
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        self.transport.write(unparsable_request_response(self.server_state.default_headers))
        self.transport.close()
