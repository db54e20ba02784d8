"""A lean WSGI path for ``POST /webhooks/<source>[/<token>]``, in front of Flask.

Flask's request context, routing and response objects cost about as much as the rest of intake;
webhook POSTs are served straight from the WSGI environ by the same ``Intake`` logic, with the
same JSON answers and error table. Everything else (other methods → 405, other paths, health,
metrics, status) goes to Flask unchanged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from bot.errors import BotError
from bot.web.errors import HTTP_ERRORS, describe

if TYPE_CHECKING:
    from bot.web.intake import Intake

log = logging.getLogger(__name__)
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
PREFIX = "/webhooks/"


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {
        key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key[:5] == "HTTP_"
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    return headers


def _body(environ: dict[str, Any], limit: int) -> bytes | None:
    """The request body, or None when it is over ``limit`` (nothing more is read then)."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        try:
            size = int(length)
        except ValueError:
            size = -1
        if size < 0:
            return b""
        return None if size > limit else stream.read(size)
    if environ.get("wsgi.input_terminated"):  # chunked: read at most one byte past the limit
        data = stream.read(limit + 1)
        return None if len(data) > limit else data
    return b""


def _answer(start_response: Callable[..., Any], status: int, payload: dict[str, object]) -> list[bytes]:
    data = json.dumps(payload, separators=(",", ":")).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    if status == 503:
        headers.append(("Retry-After", "5"))
    start_response(f"{status} {HTTPStatus(status).phrase}", headers)
    return [data]


def fast_path(intake: Intake, flask_app: WSGIApp) -> WSGIApp:
    limit = intake.container.settings.max_body_bytes

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "POST" or not path.startswith(PREFIX):
            return flask_app(environ, start_response)
        parts = path[len(PREFIX) :].encode("latin-1").decode("utf-8", "replace").split("/")
        if len(parts) > 2 or not all(parts):
            return flask_app(environ, start_response)
        source, token = parts[0], parts[1] if len(parts) == 2 else None
        try:
            body = _body(environ, limit)
            if body is None:
                exc = intake.too_large()
                intake.refused(source, exc)
                raise exc
            status, payload = intake.receive(source, token, body, _headers(environ))
        except BotError as exc:
            status, name = describe(exc)
            HTTP_ERRORS.labels(status=str(status)).inc()
            return _answer(start_response, status, {"error": name, "reason": exc.message})
        except Exception:  # a bug of ours: logged, still JSON
            log.exception("unhandled error")
            HTTP_ERRORS.labels(status="500").inc()
            return _answer(
                start_response, 500, {"error": "internal", "reason": "internal error; see the logs"}
            )
        return _answer(start_response, status, payload)

    return app
