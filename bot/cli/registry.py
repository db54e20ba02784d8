"""``manifest-bot registry digest IMAGE[:TAG]`` and ``manifest-bot registry tags IMAGE``: ask a
registry what the bot would ask it, with the service's credential settings
(``MANIFEST_BOT_DOCKER_CONFIG``, ``MANIFEST_BOT_INSECURE_REGISTRIES``, see config/example.env).

Exit codes: 0 answered; 1 the tag does not exist (``digest`` only); 2 any other error, with the
reason on stderr (bad reference, settings, credentials refused, registry unreachable, rate limit).
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from bot.core.images import parse_image
from bot.deps import build_registry
from bot.errors import BotError
from bot.registry.artifacts import Artifacts
from bot.settings import Settings

EXIT_MISSING = 1
EXIT_ERROR = 2


def _fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _client() -> Artifacts:
    try:
        return build_registry(Settings.from_env())
    except BotError as exc:
        _fail(str(exc))


@click.group("registry")
def registry() -> None:
    """Ask a container registry what the bot would: digests and tags."""


@registry.command("digest")
@click.argument("reference")
def digest(reference: str) -> None:
    """Print the digest REFERENCE (IMAGE[:TAG], TAG defaults to latest) points at.

    Exit 1 when the tag does not exist, 2 on any other error.
    """
    try:
        ref = parse_image(reference)
        if ref.digest:
            _fail(f"{reference!r} already names a digest; give IMAGE[:TAG]")
        tag = ref.tag or "latest"
        found = _client().resolve(ref.name, tag, fresh=True)
    except BotError as exc:
        _fail(str(exc))
    if found is None:
        _fail(f"{ref.canonical_name}:{tag} does not exist in its registry", EXIT_MISSING)
    click.echo(found.digest)


@registry.command("tags")
@click.argument("image")
def tags(image: str) -> None:
    """Print every tag of IMAGE (a repository, without tag), one a line."""
    try:
        found = _client().list_tags(image)
    except BotError as exc:
        _fail(str(exc))
    for tag in found:
        click.echo(tag)


commands: list[click.Command] = [registry]
