"""``GET /``: the status page, server-rendered HTML (no JavaScript, no build step).

Open unless ``settings.status_token`` is set; then it needs ``Authorization: Bearer <token>`` or
HTTP basic auth with any user name and the token as password (so a browser can prompt for it).
Register it with ``app.register_blueprint(status.blueprint(container))``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from typing import TYPE_CHECKING

from flask import Blueprint, Response, render_template, request

from bot.web.status_data import collect

if TYPE_CHECKING:
    from bot.deps import Container

REALM = 'Basic realm="manifest-bot status", charset="UTF-8"'


def presented_token(authorization: str | None) -> str | None:
    """The token in a Bearer or Basic (password part) ``Authorization`` header."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, sep, password = decoded.partition(":")
        return password if sep else None
    return None


def authorized(expected: str | None, authorization: str | None) -> bool:
    if expected is None:
        return True
    token = presented_token(authorization)
    return token is not None and hmac.compare_digest(token.encode(), expected.encode())


def blueprint(container: Container) -> Blueprint:
    bp = Blueprint("status", __name__, template_folder="templates")

    @bp.get("/")
    def status_page() -> Response:
        secret = container.settings.status_token
        expected = secret.get_secret_value() if secret is not None else None
        if not authorized(expected, request.headers.get("Authorization")):
            response = Response("authentication required\n", status=401, mimetype="text/plain")
            response.headers["WWW-Authenticate"] = REALM
            return response
        started = time.perf_counter()
        view = collect(container.redis, container.settings)
        refresh = request.args.get("refresh", type=int)
        html = render_template(
            "status.html",
            view=view,
            prefix=container.settings.redis_prefix,
            refresh=refresh if refresh and refresh >= 2 else None,
            generated=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )
        response = Response(html, status=200, mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    return bp
