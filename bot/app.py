"""The Flask application factory (gunicorn: ``bot.app:create_app()``).

Nothing happens at import time: settings, Redis and queues are built when ``create_app`` runs.
"""

from __future__ import annotations

from flask import Flask

from bot import logs, web
from bot.deps import Container
from bot.settings import Settings


def create_app(settings: Settings | None = None, container: Container | None = None) -> Flask:
    """Build the web app around ``container`` (default: one built from ``settings`` or the env)."""
    if container is None:
        container = Container(settings if settings is not None else Settings.from_env())
    settings = container.settings
    logs.configure_process(settings)  # the same redaction as the worker's
    app = Flask("manifest_bot")
    # one byte over the limit: Werkzeug stops a chunked body at the limit without an error, so the
    # intake reads up to limit + 1 bytes and refuses anything longer than the limit itself
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes + 1
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["manifest_bot"] = container
    web.register(app, container)
    return app
