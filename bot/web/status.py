"""``GET /``: the status page, server-rendered HTML (no JavaScript, no build step).

Open unless ``settings.status_token`` is set (``bot.web.access``). With a token set, the failed
jobs carry Retry and Dismiss buttons: plain form posts to ``bot.web.actions`` with a form token.
Register it with ``app.register_blueprint(status.blueprint(container))``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from flask import Blueprint, Response, render_template, request

from bot.web.access import csrf_token, refusal
from bot.web.status_data import collect

if TYPE_CHECKING:
    from bot.deps import Container


def blueprint(container: Container) -> Blueprint:
    bp = Blueprint("status", __name__, template_folder="templates")

    @bp.get("/")
    def status_page() -> Response:
        settings = container.settings
        refused = refusal(settings)
        if refused is not None:
            return refused
        started = time.perf_counter()
        view = collect(container.redis, settings)
        refresh = request.args.get("refresh", type=int)
        html = render_template(
            "status.html",
            view=view,
            prefix=settings.redis_prefix,
            refresh=refresh if refresh and refresh >= 2 else None,
            generated=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            elapsed_ms=(time.perf_counter() - started) * 1000,
            csrf=csrf_token(settings),
        )
        return Response(html, status=200, mimetype="text/html")

    return bp
