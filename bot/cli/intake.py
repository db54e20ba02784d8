"""``manifest-bot parse-webhook`` (debug one delivery) and ``manifest-bot serve`` (the web app)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from bot import sources
from bot.core.events import event_to_dict
from bot.errors import BadPayload, WebhookError


def _header(value: str) -> tuple[str, str]:
    name, sep, rest = value.partition(":")
    if not sep or not name.strip():
        raise click.BadParameter(f"expected 'Name: value', got {value!r}")
    return name.strip(), rest.strip()


@click.command("parse-webhook")
@click.argument("file", type=click.File("rb"))
@click.option(
    "--source",
    "source_name",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", *sources.NAMES]),
    help="Which sender's format to read; auto detects it from the headers and body.",
)
@click.option("-H", "--header", "headers", multiple=True, help="A request header, 'Name: value' (repeat).")
def parse_webhook(file: Any, source_name: str, headers: tuple[str, ...]) -> None:
    """Print the normalised events of one delivery FILE ('-' for stdin) as a JSON list.

    No signature is checked. An ignored delivery prints [] and the reason on stderr.
    """
    body = file.read()
    header_map = sources.normalise_headers(_header(h) for h in headers)
    try:
        name = sources.detect(header_map, body) if source_name == "auto" else source_name
        result = sources.get(name).parse(header_map, body)
    except WebhookError as exc:
        raise click.ClickException(str(exc)) from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise click.ClickException(str(BadPayload(f"malformed {source_name} payload: {exc}"))) from None
    click.echo(json.dumps([event_to_dict(e) for e in result.events], indent=2))
    if result.ignored_reason is not None:
        click.echo(f"ignored ({name}): {result.ignored_reason}", err=True)
    elif source_name == "auto":
        click.echo(f"source: {name}", err=True)


@click.command("serve")
@click.option("--bind", "bind_to", default=None, help="host:port (default $HOST:$PORT or 127.0.0.1:8080)")
@click.option("--workers", type=int, default=None, help="gunicorn workers (default $WEB_CONCURRENCY)")
def serve(bind_to: str | None, workers: int | None) -> None:
    """Run the web process (webhooks, health, metrics, status) under gunicorn."""
    from gunicorn.app.base import BaseApplication

    from bot.app import create_app
    from bot.errors import SettingsError

    try:
        app = create_app()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            from bot.web import gunicorn_conf

            for key in gunicorn_conf.SETTINGS:
                self.cfg.set(key, getattr(gunicorn_conf, key))
            self.cfg.set("accesslog", None)
            self.cfg.set("child_exit", gunicorn_conf.child_exit)
            if bind_to:
                self.cfg.set("bind", bind_to)
            if workers:
                self.cfg.set("workers", workers)

        def load(self) -> Any:
            return app

    _Server().run()
    sys.exit(0)


commands: list[click.Command] = [parse_webhook, serve]
