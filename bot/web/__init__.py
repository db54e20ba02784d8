"""HTTP routes: webhook intake, health and metrics, and the error table (``bot.web.errors``).

``register(app, container)`` wires them; an optional ``bot.web.status`` module (the status page,
owned elsewhere) is registered too when present, through its ``blueprint(container)``.
"""

from __future__ import annotations

import importlib

from flask import Flask

from bot.deps import Container
from bot.web import errors, health, intake

_OPTIONAL = ("status",)


def register(app: Flask, container: Container) -> None:
    errors.register(app)
    intake.register(app, container)
    health.register(app, container)
    for name in _OPTIONAL:
        module_name = f"{__name__}.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        app.register_blueprint(module.blueprint(container))
