"""The ``manifest-bot`` command line.

Each sub-module owns a family of commands and exposes ``commands: list[click.Command]``:
``manifests`` (scan, bump), ``intake`` (parse-webhook, serve), ``config`` (check-config, explain),
``worker`` (worker), ``demo`` (demo), ``registry`` (registry digest, registry tags), ``local``
(local init|push|prs|show|comment|merge), ``status`` (status), ``jobs`` (jobs retry|dismiss).
"""

from __future__ import annotations

import click

from bot import __version__
from bot.cli import config, demo, intake, jobs, local, manifests, registry, status, worker


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="manifest-bot")
def main() -> None:
    """Keep GitOps manifest repositories up to date by pull request."""


for _module in (manifests, intake, config, worker, demo, registry, local, status, jobs):
    for _command in _module.commands:
        main.add_command(_command)
