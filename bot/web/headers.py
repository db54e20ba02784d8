"""The security headers on every answer (pages, the JSON API, actions, webhooks, health, metrics,
errors): no framing (``frame-ancestors 'none'``, ``X-Frame-Options: DENY``) so no other site can
lure a click on Retry/Dismiss, no scripts, forms to this origin only, no MIME sniffing, no
referrer, nothing cached."""

from __future__ import annotations

from flask import Flask, Response

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def register(app: Flask) -> None:
    @app.after_request
    def _secured(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        return response
