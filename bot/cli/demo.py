"""``manifest-bot demo``: the whole service on this machine, no network (see ``bot.demo``)."""

from __future__ import annotations

from pathlib import Path

import click
import redis

from bot.demo.model import DemoOptions
from bot.demo.repo import default_examples
from bot.demo.scenario import run_demo


@click.command("demo")
@click.option(
    "--examples",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Directory with manifests/ and routing.yaml (default: config/examples of this checkout).",
)
@click.option(
    "--redis",
    "redis_mode",
    type=click.Choice(["auto", "url", "redis-server", "fake"]),
    default="auto",
    show_default=True,
    help="auto: $MANIFEST_BOT_REDIS_URL, else a private redis-server, else an in-process fake.",
)
@click.option(
    "--registry",
    "registry_mode",
    type=click.Choice(["auto", "off"]),
    default="auto",
    show_default=True,
    help="auto: real registries when docker-registry and skopeo are installed; off: sample webhooks only.",
)
@click.option(
    "--timeout", "deadline_s", type=float, default=60.0, show_default=True, help="Seconds per wait."
)
@click.option("--keep", is_flag=True, help="Keep the temporary directory (repo, config, worker log).")
def demo(examples: Path | None, redis_mode: str, registry_mode: str, deadline_s: float, keep: bool) -> None:
    """Run the bot end to end on a local manifest repo and print the PRs it opens."""
    options = DemoOptions(
        examples=examples or default_examples(),
        redis=redis_mode,
        registry=registry_mode,
        deadline_s=deadline_s,
        keep=keep,
        echo=click.echo,
    )
    try:
        code = run_demo(options)
    except (RuntimeError, OSError, redis.RedisError) as exc:
        raise click.ClickException(str(exc)) from exc
    raise SystemExit(code)


commands: list[click.Command] = [demo]
