"""HTTP routes: webhook intake, health and metrics, the status page with its JSON API and
buttons, and the error table.

``register(app, container)`` wires them (``bot.app.create_app`` calls it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

from bot.web import actions, api, errors, headers, health, intake, status

if TYPE_CHECKING:
    from bot.deps import Container


def register(app: Flask, container: Container) -> None:
    headers.register(app)
    errors.register(app)
    intake.register(app, container)
    health.register(app, container)
    app.register_blueprint(status.blueprint(container))
    app.register_blueprint(api.blueprint(container))
    app.register_blueprint(actions.blueprint(container))
