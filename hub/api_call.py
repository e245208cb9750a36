"""One request to the hub's API from a command (``civic-hub replay``, ``civic-hub report``):
the answer's bytes, or a :class:`ConfigError` naming the route, the status and the API's
own ``detail`` (or that the API could not be reached)."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import orjson

from hub.config import ConfigError


def api_call(
    base: str,
    method: str,
    path: str,
    headers: dict[str, str],
    body: Any = None,
    name: str | None = None,
) -> bytes:
    """``name``: how an error names the request (``METHOD path`` by default)."""
    req = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else orjson.dumps(body),
        headers=headers,
    )
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:
            return bytes(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = orjson.loads(exc.read()).get("detail", "")
        except orjson.JSONDecodeError:
            detail = ""
        what = name or f"{method} {path}"
        raise ConfigError(f"{what}: {exc.code} {exc.reason}: {detail}") from None
    except urllib.error.URLError as exc:
        raise ConfigError(f"cannot reach the hub's API at {base}: {exc.reason}") from None
