"""``manifest-bot local``: the bot on a local git repository, no forge needed.

A ``kind: local`` forge keeps pull requests, comments and reactions in a JSON file beside each
repository. These commands let a person play the forge's part: list and read the bot's PRs,
comment on them as someone, merge them, or announce an image push. Comments, merges and pushes
become deliveries recorded and queued exactly as a webhook's are (the delivery store and the
deliveries stream), and by default the bot's worker then runs right here until the work is done, so the
reply is printed at once; ``--queue-only`` leaves them to a running ``manifest-bot worker``.
Redis comes from the usual settings (``MANIFEST_BOT_REDIS_URL``, default ``127.0.0.1:6379``).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import click

from bot.core.events import Delivery, Event, ImagePushed, PrClosed, PrComment
from bot.core.images import parse_image
from bot.core.marker import without_marker
from bot.core.ports import PullRequest
from bot.demo.repo import REPO, create_manifest_repo, default_examples, write_routing_config
from bot.demo.runtime import Quiescence, groups_of, in_process_worker
from bot.deps import Container
from bot.errors import BotError
from bot.forges.local.adapter import LocalGitForge
from bot.settings import Settings

#: how long the in-process worker may take to finish what a command started
DEADLINE_S = 60.0


@dataclass
class Local:
    container: Container
    forge_name: str
    forge: LocalGitForge
    repo: str

    def deliver(self, events: tuple[Event, ...], ident: str, *, queue_only: bool) -> None:
        """Record and queue the events as the webhook intake does; then, unless ``queue_only``,
        run the bot's worker here until everything they started is done."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        delivery = Delivery(f"local-{ident}", "local", now, events)
        admission = self.container.deliveries.admit(delivery)
        if not admission.enqueued:
            raise click.ClickException(f"delivery {delivery.id} was already handled")
        if queue_only:
            click.echo(f"queued delivery {delivery.id}; a running `manifest-bot worker` handles it")
            return
        quiet = Quiescence(
            self.container.redis,
            self.container.settings,
            groups_of(self.container.redis, self.container.settings, self.forge_name, self.repo),
        )
        with in_process_worker(self.container) as step:
            pending = quiet.wait([delivery.id], DEADLINE_S, step=step)
        if pending:
            raise click.ClickException("the bot did not finish in time: " + "; ".join(pending))


def _open(config: Path | None, forge_name: str | None, repo: str | None) -> Local:
    try:
        settings = Settings.from_env(**({"config_path": config} if config else {}))
        container = Container(settings)
        cfg = container.config
    except BotError as exc:
        raise click.ClickException(str(exc)) from None
    locals_ = [f.name for f in cfg.forges if f.kind == "local"]
    if forge_name is None:
        if len(locals_) != 1:
            found = ", ".join(locals_) or "none"
            raise click.ClickException(f"name the local forge with --forge (local forges: {found})")
        forge_name = locals_[0]
    elif forge_name not in locals_:
        found = ", ".join(locals_)
        raise click.ClickException(f"{forge_name!r} is not a local forge of the config ({found})")
    repos = sorted({t.repo for r in cfg.rules for t in r.targets if t.forge == forge_name})
    if repo is None:
        if len(repos) != 1:
            raise click.ClickException(f"name the repository with --repo (repositories: {', '.join(repos)})")
        repo = repos[0]
    forge = container.forge(forge_name)
    if not isinstance(forge, LocalGitForge):
        raise click.ClickException(f"{forge_name!r} is not a local git forge")
    return Local(container, forge_name, forge, repo)


def _options(command: click.Command) -> click.Command:
    for option in (
        click.option("--repo", default=None, help="Manifest repository (default: the only one)."),
        click.option("--forge", "forge_name", default=None, help="Local forge (default: the only one)."),
        click.option(
            "--config",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help="Routing config (default: $MANIFEST_BOT_CONFIG_PATH).",
        ),
    ):
        command = option(command)
    return command


def _queue_only(command: click.Command) -> click.Command:
    return click.option(
        "--queue-only", is_flag=True, help="Only queue the delivery; a running worker handles it."
    )(command)


def _pr(local: Local, number: int) -> PullRequest:
    try:
        return local.forge.get_pr(local.repo, number)
    except BotError as exc:
        raise click.ClickException(str(exc)) from None


def _comments(local: Local, number: int) -> list[dict[str, object]]:
    return list(local.forge.pr_record(local.repo, number).get("comments", []))


def _echo_comments(items: list[dict[str, object]]) -> None:
    for item in items:
        reactions = "".join(f" [{r['content']}]" for r in item.get("reactions", []))  # type: ignore[union-attr]
        click.echo(f"@{item.get('author')}{reactions}:")
        for line in str(item.get("body") or "").rstrip().splitlines():
            click.echo(f"  {line}")


# --- commands ------------------------------------------------------------------------------------
@click.group("local")
def local() -> None:
    """Play the forge's part on a local manifest repository: PRs, comments, merges, pushes."""


@local.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Create the example manifest repository and its routing config in DIRECTORY."""
    if directory.exists() and any(directory.iterdir()):
        raise click.ClickException(f"{directory} is not empty")
    root = directory / "repos"
    create_manifest_repo(default_examples(), root)
    config = write_routing_config(default_examples(), root.resolve(), directory / "routing.yaml")
    click.echo(f"created {root / REPO} and {config}")
    click.echo(f"next: manifest-bot local push registry.example.com/shop/web:1.5.0 --config {config}")


@_queue_only
@_options
@local.command("push")
@click.argument("image")
def push(image: str, config: Path | None, forge_name: str | None, repo: str | None, queue_only: bool) -> None:
    """Announce that IMAGE (name:tag or name@digest) was pushed, as a registry webhook would."""
    ref = parse_image(image)
    if ref.tag is None and ref.digest is None:
        raise click.ClickException("give the image with a tag or a digest, e.g. ghcr.io/acme/api:1.2.0")
    target = _open(config, forge_name, repo)
    event = ImagePushed(ref.canonical_name, ref.tag, ref.digest, source="local")
    target.deliver((event,), f"push-{secrets.token_hex(6)}", queue_only=queue_only)
    if not queue_only:
        _echo_prs(target)


def _echo_prs(target: Local) -> None:
    prs = sorted(target.forge.list_prs(target.repo), key=lambda p: p.number)
    if not prs:
        click.echo("no pull requests")
    for pr in prs:
        click.echo(f"#{pr.number} [{pr.state}] {pr.head_branch} → {pr.base_branch}: {pr.title}")


@_options
@local.command("prs")
def prs(config: Path | None, forge_name: str | None, repo: str | None) -> None:
    """List the repository's pull requests."""
    _echo_prs(_open(config, forge_name, repo))


@_options
@local.command("show")
@click.argument("number", type=int)
def show(number: int, config: Path | None, forge_name: str | None, repo: str | None) -> None:
    """Show pull request NUMBER: title, body, conversation and diff."""
    target = _open(config, forge_name, repo)
    pr = _pr(target, number)
    click.echo(f"#{pr.number} [{pr.state}] {pr.head_branch} → {pr.base_branch}: {pr.title}")
    if pr.labels:
        click.echo(f"labels: {', '.join(pr.labels)}")
    click.echo("")
    for line in without_marker(pr.body.rstrip()).splitlines():
        click.echo(line)
    comments = _comments(target, number)
    if comments:
        click.echo("\n--- conversation")
        _echo_comments(comments)
    if pr.state == "open":
        click.echo("\n--- diff")
        click.echo(target.forge.diff(target.repo, pr.base_branch, pr.head_branch).rstrip())


@_queue_only
@_options
@local.command("comment")
@click.argument("number", type=int)
@click.argument("text")
@click.option("--as", "author", required=True, help="Who comments (the config's permissions apply).")
def comment(
    *,
    number: int,
    text: str,
    author: str,
    config: Path | None,
    forge_name: str | None,
    repo: str | None,
    queue_only: bool,
) -> None:
    """Comment TEXT on pull request NUMBER as a person; the bot answers chat-ops commands."""
    target = _open(config, forge_name, repo)
    _pr(target, number)
    before = len(_comments(target, number))
    comment_id = target.forge.comment(target.repo, number, text, author=author)
    event = PrComment(
        forge="local", repo=target.repo, pr_number=number, author=author, body=text, comment_id=comment_id
    )
    target.deliver((event,), f"comment-{number}-{comment_id}", queue_only=queue_only)
    if not queue_only:
        _echo_comments(_comments(target, number)[before:])


@_queue_only
@_options
@local.command("merge")
@click.argument("number", type=int)
@click.option("--as", "author", default="you", show_default=True, help="Who merges.")
@click.option(
    "--method", type=click.Choice(["merge", "squash", "rebase"]), default="squash", show_default=True
)
def merge(
    *,
    number: int,
    author: str,
    method: str,
    config: Path | None,
    forge_name: str | None,
    repo: str | None,
    queue_only: bool,
) -> None:
    """Merge pull request NUMBER as a person would; the bot learns of it as from a webhook."""
    target = _open(config, forge_name, repo)
    pr = _pr(target, number)
    if pr.state != "open":
        raise click.ClickException(f"#{number} is {pr.state}")
    try:
        merged = target.forge.merge_pr(target.repo, number, method, pr.head_sha)  # type: ignore[arg-type]
    except BotError as exc:
        raise click.ClickException(str(exc)) from None
    if not merged:
        raise click.ClickException(f"#{number} cannot be merged now")
    event = PrClosed(
        forge="local",
        repo=target.repo,
        pr_number=number,
        merged=True,
        head_branch=pr.head_branch,
        base_branch=pr.base_branch,
        closed_by=author,
        merge_sha=target.forge.branch_head(target.repo, pr.base_branch),
    )
    target.deliver((event,), f"merge-{number}-{secrets.token_hex(4)}", queue_only=queue_only)
    click.echo(f"merged #{number} into {pr.base_branch}")
    if not queue_only:
        _echo_prs(target)


commands: list[click.Command] = [local]
