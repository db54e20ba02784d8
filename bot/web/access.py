"""Who may read the status page and its JSON API, and change what they show.

Everything under ``/`` and ``/api/`` is open unless ``settings.status_token`` is set; then it needs
``Authorization: Bearer <token>`` or HTTP basic auth with any user name and the token as password
(so a browser can prompt for it). Actions (``POST /jobs/<id>/retry|dismiss``) always need the
token to be set, and a form token (``csrf_token``) the page embeds: a browser sends basic-auth
credentials with any request to the page's origin, so a form another site posts must not work.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import TYPE_CHECKING

from flask import Response, jsonify, request

if TYPE_CHECKING:
    from bot.settings import Settings

REALM = 'Basic realm="manifest-bot status", charset="UTF-8"'
#: how long a form token from the page stays valid
CSRF_MAX_AGE_S = 3600


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


def status_token(settings: Settings) -> str | None:
    secret = settings.status_token
    return secret.get_secret_value() if secret is not None else None


def refusal(settings: Settings, *, json: bool = False) -> Response | None:
    """The 401 for a request without the status token (None: it may proceed)."""
    if authorized(status_token(settings), request.headers.get("Authorization")):
        return None
    if json:
        response = jsonify(error="authentication required")
        response.status_code = 401
    else:
        response = Response("authentication required\n", status=401, mimetype="text/plain")
    response.headers["WWW-Authenticate"] = REALM
    return response


# --- form tokens ---------------------------------------------------------------------------------
def _key(token: str) -> bytes:
    return hashlib.sha256(b"manifest-bot status actions\0" + token.encode()).digest()


def csrf_token(settings: Settings, now: float | None = None) -> str | None:
    """A form token for the page's buttons (None: actions are off, no status token is set)."""
    token = status_token(settings)
    if token is None:
        return None
    issued = str(int(time.time() if now is None else now))
    return f"{issued}.{hmac.new(_key(token), issued.encode(), hashlib.sha256).hexdigest()}"


def csrf_valid(settings: Settings, presented: str | None, now: float | None = None) -> bool:
    token = status_token(settings)
    if token is None or not presented or presented.count(".") != 1:
        return False
    issued, mac = presented.split(".")
    if not issued.isdigit() or len(issued) > 12:
        return False
    expected = hmac.new(_key(token), issued.encode(), hashlib.sha256).hexdigest()
    age = (time.time() if now is None else now) - int(issued)
    return hmac.compare_digest(mac.encode(), expected.encode()) and 0 <= age <= CSRF_MAX_AGE_S
