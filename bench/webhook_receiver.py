"""A webhook subscriber for the soak (bench/soak.py), in its own process as a real one would be.

    python bench/webhook_receiver.py --port 18999

Answers every POST with 204 and counts it (and each distinct webhook-id); GET /stats answers
{"requests": n, "distinct": m}. Nothing else is kept, so it runs for hours in constant memory.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import uvicorn


class Counter:
    def __init__(self) -> None:
        self.requests = 0
        self.ids: set[bytes] = set()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
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
        if scope["method"] == "GET" and scope["path"] == "/stats":
            body = json.dumps({"requests": self.requests, "distinct": len(self.ids)}).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        self.requests += 1
        self.ids.update(v for k, v in scope["headers"] if k == b"webhook-id")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(Counter(), host="127.0.0.1", port=args.port, log_level="warning", access_log=False, lifespan="on")


if __name__ == "__main__":
    main()
