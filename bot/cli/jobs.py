"""``manifest-bot jobs retry|dismiss ID``: a failed job back on its queue, or gone (the ids
``manifest-bot status`` and the status page list; ``bot.store.failures``)."""

from __future__ import annotations

import click

from bot.cli.status import connect, redis_options, settings_for
from bot.store import failures


@click.group("jobs")
def jobs() -> None:
    """Failed jobs: put one back on its queue, or dismiss it (ids as `manifest-bot status` lists)."""


def _act(action: str, job_id: str, redis_url: str | None, prefix: str | None) -> failures.FailedJob:
    settings = settings_for(redis_url, prefix)
    conn = connect(settings)
    if conn is None:
        raise click.ClickException("cannot reach the bot's Redis")
    done = (failures.retry if action == "retry" else failures.dismiss)(conn, settings, job_id)
    if done is None:
        raise click.ClickException(f"no failed job {job_id!r} under prefix {settings.redis_prefix}")
    return done


@redis_options
@jobs.command("retry")
@click.argument("job_id")
def retry(job_id: str, redis_url: str | None, prefix: str | None) -> None:
    """Put failed job JOB_ID back on its queue (a running worker runs it)."""
    job = _act("retry", job_id, redis_url, prefix)
    click.echo(f"{job.id} ({job.kind}) is back on its queue; a running `manifest-bot worker` runs it")


@redis_options
@jobs.command("dismiss")
@click.argument("job_id")
def dismiss(job_id: str, redis_url: str | None, prefix: str | None) -> None:
    """Delete failed job JOB_ID (it is no longer listed)."""
    job = _act("dismiss", job_id, redis_url, prefix)
    click.echo(f"dismissed {job.id} ({job.kind})")


commands: list[click.Command] = [jobs]
