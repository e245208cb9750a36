"""Security headers on every answer: what the page may load and run (Content-Security-Policy),
that no other site may frame it, that no browser guesses a content type, and that no
address (the page may be opened with ``?token=``) leaves in a Referer.

The command center loads only from the hub (``make web`` bundles Leaflet, the stylesheet
and the Noto Sans SC slices into ``/ui``): one script file, stylesheets, woff2 fonts,
Leaflet's images as ``data:`` URIs, ``fetch`` to the API and the feed. So its policy allows
``'self'`` and ``data:`` images, and nothing inline. Leaflet positions its layers through
the CSSOM (``element.style``), which a policy does not restrict.

``/docs`` (Swagger UI) starts with one inline script: it is allowed by its SHA-256 hash,
computed from the page the hub actually serves, and Swagger UI's inline styles are allowed
there only.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def inline_script_hashes(html: bytes) -> list[str]:
    """CSP sources (``'sha256-…'``) for every inline script of ``html``."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode() + "'"
        for m in _INLINE_SCRIPT.finditer(html)
    ]


def docs_policy(html: bytes) -> str:
    """The policy of the Swagger UI page: its own inline script by hash, inline styles."""
    return (
        f"default-src 'self'; script-src 'self' {' '.join(inline_script_hashes(html))}; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


class SecurityHeaders:
    """Plain ASGI: adds the headers to every HTTP answer; a route that sets its own
    Content-Security-Policy (``/docs``) keeps it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in COMMON if k not in names]
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", PAGE_POLICY.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)
