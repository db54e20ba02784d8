"""The one place that decides how an error looks over HTTP: always JSON ``{"error", "reason"}``.

A 401 says the same for every source and every cause (no secret configured, no signature, a wrong
one): which sources are configured, and how a guess failed, stay in the service's own log.
"""

from __future__ import annotations

import json
import logging

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from bot.errors import (
    BadPayload,
    BotError,
    PayloadTooLarge,
    SignatureError,
    StoreUnavailable,
    UnknownSource,
    WebhookError,
)
from bot.metrics import HTTP_ERRORS

log = logging.getLogger(__name__)

#: error class → (HTTP status, short name used in JSON and as the metrics outcome)
ERRORS: dict[type[BotError], tuple[int, str]] = {
    SignatureError: (401, "unauthorized"),
    PayloadTooLarge: (413, "too_large"),
    UnknownSource: (404, "unknown_source"),
    BadPayload: (400, "bad_request"),
    StoreUnavailable: (503, "unavailable"),
}


#: the reason of every 401: the same whichever source was asked and whatever failed
UNAUTHORIZED = "the delivery is not signed or authenticated with a secret this service accepts for it"


def describe(exc: BotError) -> tuple[int, str]:
    """Status and short name of ``exc`` (most specific class in the table wins)."""
    for cls in type(exc).__mro__:
        if cls in ERRORS:
            return ERRORS[cls]
    if isinstance(exc, WebhookError):
        return exc.status, "bad_request"
    return 500, "internal"


def json_response(payload: dict[str, object], status: int) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")), status, mimetype="application/json")


def error_response(status: int, name: str, reason: str) -> Response:
    HTTP_ERRORS.labels(status=str(status)).inc()
    response = json_response({"error": name, "reason": reason}, status)
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response


def register(app: Flask) -> None:
    @app.errorhandler(BotError)
    def _bot_error(exc: BotError) -> Response:
        status, name = describe(exc)
        return error_response(status, name, UNAUTHORIZED if isinstance(exc, SignatureError) else exc.message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        name = (exc.name or "error").lower().replace(" ", "_")
        response = error_response(status, name, exc.description or name)
        if status == 405 and exc.response is None:
            allowed = getattr(exc, "valid_methods", None)
            if allowed:
                response.headers["Allow"] = ", ".join(allowed)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:  # a bug of ours: logged, still JSON
        log.exception("unhandled error")
        return error_response(500, "internal", "internal error; see the service logs")
