"""The ``manifest-bot`` command line.

Each sub-module owns a family of commands and exposes ``commands: list[click.Command]``:
``manifests`` (scan, bump), ``intake`` (parse-webhook, serve), ``config`` (check-config, explain),
``worker`` (worker), ``demo`` (demo).
"""

from __future__ import annotations

import importlib

import click

from bot import __version__

_COMMAND_MODULES = ("manifests", "intake", "config", "worker", "demo")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="manifest-bot")
def main() -> None:
    """Keep GitOps manifest repositories up to date by pull request."""


def _register() -> None:
    for name in _COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        for command in module.commands:
            main.add_command(command)


_register()
