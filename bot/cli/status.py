"""``manifest-bot status``: what the bot did and why, read from its Redis (the status page's data
in a terminal; ``bot.cli.jobs`` retries or dismisses a failed job).

Redis and the key prefix come from the usual settings (``MANIFEST_BOT_REDIS_URL``,
``MANIFEST_BOT_REDIS_PREFIX``) or ``--redis`` / ``--prefix``. With no bot running there is
nothing to show, and ``status`` says so (and where it looked) instead of failing.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import click
import redis
from pydantic import ValidationError

from bot.errors import BotError
from bot.logs import redact
from bot.settings import Settings
from bot.web.status_data import (
    ConfigRow,
    DeliveryRow,
    GroupRow,
    config,
    deliveries,
    delivery,
    failed_jobs,
    groups,
    redacted,
)

MAX_LIMIT = 200


def settings_for(redis_url: str | None, prefix: str | None) -> Settings:
    overrides: dict[str, Any] = {}
    if redis_url:
        overrides["redis_url"] = redis_url
    if prefix:
        overrides["redis_prefix"] = prefix
    try:
        return Settings.from_env(**overrides)
    except (BotError, ValidationError) as exc:
        raise click.ClickException(str(exc)) from None


def connect(settings: Settings) -> redis.Redis | None:
    """A connection to the bot's Redis, or None (and a message saying why) when it does not answer."""
    conn = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=5)
    try:
        conn.ping()
    except redis.RedisError as exc:
        where = redact(settings.redis_url)
        click.echo(f"Redis at {where} does not answer ({type(exc).__name__}): no bot state to show.")
        click.echo(
            "The bot keeps what it did in its Redis: point at it with --redis URL (or "
            "MANIFEST_BOT_REDIS_URL) and --prefix (MANIFEST_BOT_REDIS_PREFIX), or start it "
            "(`manifest-bot worker`, `manifest-bot serve`)."
        )
        return None
    return conn


def redis_options(command: click.Command) -> click.Command:
    for option in (
        click.option(
            "--prefix", default=None, help="Redis key prefix (default: $MANIFEST_BOT_REDIS_PREFIX)."
        ),
        click.option(
            "--redis", "redis_url", default=None, help="Redis URL (default: $MANIFEST_BOT_REDIS_URL)."
        ),
    ):
        command = option(command)
    return command


# --- printing ------------------------------------------------------------------------------------
def _echo_delivery(row: DeliveryRow) -> None:
    verdict = f" · {row.verdict}" if row.verdict else ""
    click.echo(f"{row.received_at}  {row.source:<12} {row.id}  [{row.outcome}{verdict}]  {row.events}")
    if row.reason and not row.outcomes:
        click.echo(f"    {row.reason}")
    for o in row.outcomes:
        image = o.image + (f":{o.tag}" if o.tag else "")
        place = f"in {o.group_name}" if o.group_name else f"for {o.target}" if o.target else ""
        where = " ".join(x for x in (image, place) if x)
        pr = (f" → PR #{o.pr_number}" + (f" {o.pr_url}" if o.pr_url else "")) if o.pr_number else ""
        click.echo(f"    {o.status:<10} {where + ': ' if where else ''}{o.reason}{pr}")
    if row.left_out:
        click.echo(f"    … and {row.left_out} more")


def _echo_group(g: GroupRow) -> None:
    pr = f"PR #{g.pr_number}" if g.pr_number else "no open PR"
    flags = "".join(f" [{f}]" for f, on in (("on hold", g.hold), ("reconcile pending", g.dirty)) if on)
    click.echo(f"{g.repo} · {g.base_branch} · {g.group}: {pr}{flags}")
    for t in g.targets:
        click.echo(f"    {t.image}: wanted {t.wanted or '—'}, in PR {t.current or '—'}")
    for label, lines in (
        ("pinned", g.pins),
        ("ignored", g.ignores),
        ("waiting", g.waiting),
        ("the repo's own file asks for what it may not set", g.repo_file_problems),
        ("no release notes", g.notes_left_out),
    ):
        for line in lines:
            click.echo(f"    {label}: {line}")
    if g.blocked:
        click.echo(f"    blocked: {g.blocked}")
    if g.schedule:
        click.echo(f"    {g.schedule}")
    if g.limited:
        click.echo(f"    {g.limited}")
    if g.last_error:
        click.echo(f"    last error: {g.last_error}")


def _echo_config(row: ConfigRow) -> None:
    """The routing config the workers run with and a refused newer file, as the page shows them."""
    if row.digest:
        click.echo(f"Routing config: {row.path} ({row.digest[:12]}), loaded {row.loaded_at}")
    if row.refused:
        click.echo(
            f"A new routing config was refused ({row.refused_digest[:12]}, {row.refused_at}); "
            "the workers keep the one in use:"
        )
        for problem in row.problems:
            click.echo(f"    {problem}")


def _overview(conn: redis.Redis, settings: Settings, limit: int) -> dict[str, Any]:
    return {
        "groups": redacted(groups(conn, settings)),
        "deliveries": redacted(deliveries(conn, settings, limit)),
        "failed": redacted(failed_jobs(conn, settings)),
    }


def _echo_overview(view: dict[str, Any], settings: Settings) -> None:
    click.echo(f"manifest-bot at {redact(settings.redis_url)}, prefix {settings.redis_prefix}")
    _echo_config(view["config"])
    click.echo("\nGroups and pull requests:")
    for g in view["groups"]:
        _echo_group(g)
    if not view["groups"]:
        click.echo("    none yet")
    click.echo("\nRecent deliveries (newest first; why nothing happened is under each):")
    for row in view["deliveries"]:
        _echo_delivery(row)
    if not view["deliveries"]:
        click.echo("    none yet (a delivery stays listed for MANIFEST_BOT_DELIVERY_TTL_S)")
    click.echo("\nFailed jobs:")
    for f in view["failed"]:
        state = f"resolved: {f.resolved}" if f.resolved else "manifest-bot jobs retry|dismiss " + f.id
        click.echo(f"    {f.ended_at}  {f.kind:<9} {f.id}: {f.reason}\n        {state}")
    if not view["failed"]:
        click.echo("    none")


@redis_options
@click.command("status")
@click.option(
    "--delivery", "delivery_id", default=None, help="Show one delivery (the sender's id, or its ref)."
)
@click.option(
    "--limit", type=click.IntRange(1, MAX_LIMIT), default=20, show_default=True, help="Deliveries listed."
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (the shape of GET /api/deliveries and /api/groups)."
)
def status(
    *, delivery_id: str | None, limit: int, as_json: bool, redis_url: str | None, prefix: str | None
) -> None:
    """What the bot did and why: groups, recent deliveries with the reason per image, failed jobs."""
    settings = settings_for(redis_url, prefix)
    conn = connect(settings)
    if conn is None:
        return
    if delivery_id is not None:
        row = delivery(conn, settings, delivery_id)
        if row is None:
            raise click.ClickException(
                f"no delivery {delivery_id!r} under prefix {settings.redis_prefix} "
                "(deliveries expire after MANIFEST_BOT_DELIVERY_TTL_S)"
            )
        if as_json:
            click.echo(json.dumps(asdict(row), indent=2))
        else:
            _echo_delivery(row)
        return
    view = _overview(conn, settings, limit)
    if as_json:
        click.echo(json.dumps({k: [asdict(x) for x in v] for k, v in view.items()}, indent=2))
    else:
        _echo_overview({**view, "config": redacted(config(conn, settings))}, settings)


commands: list[click.Command] = [status]
