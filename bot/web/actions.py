"""The status page's buttons: ``POST /jobs/<id>/retry`` and ``POST /jobs/<id>/dismiss``.

Plain HTML form posts (the page runs no script). Each needs the status token to be set and
presented (``bot.web.access``), the page's form token, and a same-origin request (browsers send
``Sec-Fetch-Site``); then it retries or dismisses the failed job (``bot.store.failures``) and
sends the browser back to the page (303).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Response, redirect, request

from bot.store import failures
from bot.web.access import csrf_valid, refusal, status_token

if TYPE_CHECKING:
    from bot.deps import Container

ACTIONS = {"retry": failures.retry, "dismiss": failures.dismiss}


def _text(message: str, status: int) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")


def blueprint(container: Container) -> Blueprint:
    bp = Blueprint("actions", __name__)

    @bp.post("/jobs/<path:job_id>/<action>")
    def act(job_id: str, action: str) -> Response:
        settings = container.settings
        if action not in ACTIONS:
            return _text(f"unknown action {action!r} (retry or dismiss)", 404)
        if status_token(settings) is None:
            return _text("actions need MANIFEST_BOT_STATUS_TOKEN; or use `manifest-bot jobs`", 403)
        refused = refusal(settings)
        if refused is not None:
            return refused
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            return _text("refused: the request came from another site", 403)
        if not csrf_valid(settings, request.form.get("csrf")):
            return _text("refused: the form is stale or not the status page's; reload the page", 403)
        done = ACTIONS[action](container.redis, settings, job_id)
        if done is None:
            return _text("no such failed job (it may have been retried or dismissed already)", 404)
        return redirect("/#failed", code=303)

    return bp
