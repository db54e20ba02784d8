"""``manifest-bot parse-webhook`` (debug one delivery) and ``manifest-bot serve`` (the web app)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from typing import Any

import click

from bot import metrics, sources
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
    if not os.environ.get(metrics.MULTIPROC_ENV):
        sys.exit(_serve_with_metrics_dir())
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


#: what a process manager sends gunicorn's master (stop, reload, more or fewer workers, reopen logs)
_RELAYED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGHUP,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGTTIN,
    signal.SIGTTOU,
    signal.SIGWINCH,
)


def _serve_with_metrics_dir() -> int:
    """``serve`` again in a child process whose ``PROMETHEUS_MULTIPROC_DIR`` is a new private
    directory, so that ``/metrics`` adds up every gunicorn worker's values (prometheus-client
    reads the variable once, when it is first imported: this process imported it already). The
    signals above go to the child; the directory is removed when it exits. Its exit code is ours."""
    directory = tempfile.mkdtemp(prefix="manifest-bot-metrics-")
    env = {**os.environ, metrics.MULTIPROC_ENV: directory}
    code = "import sys; from bot.cli import main; main(sys.argv[1:])"
    try:
        child = subprocess.Popen([sys.executable, "-c", code, *_same_command()], env=env)
        for signum in _RELAYED:
            signal.signal(signum, lambda received, _frame: child.send_signal(received))
        status = child.wait()
        return 128 - status if status < 0 else status  # killed by a signal: as a shell reports it
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _same_command() -> list[str]:
    """The arguments of the command being run, as given (its options with their values)."""
    ctx = click.get_current_context()
    args = [ctx.info_name or "serve"]
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if isinstance(param, click.Option) and value not in (None, False):
            args += [param.opts[-1]] if param.is_flag else [param.opts[-1], str(value)]
    return args


commands: list[click.Command] = [parse_webhook, serve]
