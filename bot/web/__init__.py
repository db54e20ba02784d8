"""HTTP routes: webhook intake, health and metrics, the status page, and the error table.

``register(app, container)`` wires them (``bot.app.create_app`` calls it).
"""

from __future__ import annotations

from flask import Flask

from bot.deps import Container
from bot.web import errors, health, intake, status


def register(app: Flask, container: Container) -> None:
    errors.register(app)
    intake.register(app, container)
    health.register(app, container)
    app.register_blueprint(status.blueprint(container))
