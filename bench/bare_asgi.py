"""A do-nothing HTTP endpoint for bench/api_reads.py: the ceiling of the API's server stack
(uvicorn with the same loop and HTTP parser as `civic-hub up`, one process), answering a
small JSON body with no policy, no query and no audit.

    .venv/bin/python -m uvicorn bench.bare_asgi:app --port N --log-level warning --no-access-log
"""

from __future__ import annotations

from typing import Any

BODY = b'{"person_id":"p-0000000000000000","names":["x"],"cases":[]}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
