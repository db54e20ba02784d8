"""GitHub (App or repository webhooks): ``X-Hub-Signature-256`` HMAC, ``X-GitHub-Delivery`` id."""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from bot.core.events import CiFinished, Event, ImagePushed, Installation, PrClosed, PrComment, PrQueued, Push
from bot.errors import SignatureError
from bot.sources.base import (
    Headers,
    ParseResult,
    chart_pushed,
    check_hmac_sha256,
    ignored,
    image_pushed,
    integer,
    load_object,
    obj,
    require_secrets,
    text,
)

NAME = "github"
FORGE = "github"
_STATUSES = {
    "success": "success",
    "failure": "failure",
    "cancelled": "cancelled",
    "skipped": "skipped",
    "timed_out": "timed_out",
    "neutral": "neutral",
    "action_required": "action_required",
    "stale": "stale",
    "startup_failure": "failure",
}


def verify(headers: Headers, body: bytes, secrets: tuple[str, ...]) -> None:
    require_secrets(secrets, NAME)
    if "x-hub-signature-256" not in headers and "x-hub-signature" in headers:
        raise SignatureError("only X-Hub-Signature-256 (HMAC-SHA256) is accepted, not SHA-1")
    check_hmac_sha256(headers.get("x-hub-signature-256"), body, secrets, "X-Hub-Signature-256")


def detect(headers: Headers, payload: Any) -> bool:
    return "x-github-event" in headers


def parse(headers: Headers, body: bytes) -> ParseResult:
    delivery = headers.get("x-github-delivery") or None
    event = headers.get("x-github-event")
    if not event:
        return ignored("missing X-GitHub-Event header", delivery)
    data = load_object(body)
    handler = _HANDLERS.get(event)
    if handler is None:
        return ignored(f"GitHub event {event!r} is not used", delivery)
    outcome = handler(data)
    if isinstance(outcome, str):
        return ignored(outcome, delivery)
    return ParseResult((outcome,), delivery)


def _repo(data: dict[str, Any]) -> str | None:
    return text(obj(data, "repository"), "full_name")


def _installation_id(data: dict[str, Any]) -> int | None:
    return integer(obj(data, "installation"), "id")


def _workflow_run(data: dict[str, Any]) -> Event | str:
    action = text(data, "action")
    if action != "completed":
        return f"workflow_run {action}: only completed runs matter"
    run = obj(data, "workflow_run")
    repo, sha = _repo(data), text(run, "head_sha")
    status = _STATUSES.get(text(run, "conclusion") or "")
    if not (repo and sha and status):
        return "workflow_run without repository, head_sha or a known conclusion"
    return CiFinished(
        forge=FORGE,
        repo=repo,
        sha=sha,
        branch=text(run, "head_branch"),
        status=status,
        run_id=integer(run, "id"),
        run_number=integer(run, "run_number"),
        workflow=text(run, "name") or text(obj(data, "workflow"), "name"),
        link=text(run, "html_url"),
        finished_at=text(run, "updated_at"),
    )


def _check_suite(data: dict[str, Any]) -> Event | str:
    action = text(data, "action")
    if action != "completed":
        return f"check_suite {action}: only completed suites matter"
    suite = obj(data, "check_suite")
    repo, sha = _repo(data), text(suite, "head_sha")
    status = _STATUSES.get(text(suite, "conclusion") or "")
    if not (repo and sha and status):
        return "check_suite without repository, head_sha or a known conclusion"
    return CiFinished(
        forge=FORGE,
        repo=repo,
        sha=sha,
        branch=text(suite, "head_branch"),
        status=status,
        run_id=integer(suite, "id"),
        workflow=text(obj(suite, "app"), "name"),
        finished_at=text(suite, "updated_at"),
    )


def _push(data: dict[str, Any]) -> Event | str:
    ref, repo = text(data, "ref"), _repo(data)
    before, after = text(data, "before"), text(data, "after")
    if data.get("deleted") is True:
        return f"push deleted {ref}"
    if not (ref and repo and before and after):
        return "push without ref, repository, before or after"
    if not ref.startswith("refs/heads/"):
        return f"push to {ref}: only branches matter"
    return Push(forge=FORGE, repo=repo, ref=ref, before=before, after=after)


def _issue_comment(data: dict[str, Any]) -> Event | str:
    action = text(data, "action")
    if action != "created":
        return f"issue_comment {action}: only new comments are read"
    issue, comment = obj(data, "issue"), obj(data, "comment")
    if "pull_request" not in issue:
        return "comment on an issue, not a pull request"
    user = obj(comment, "user")
    repo, number, comment_id = _repo(data), integer(issue, "number"), integer(comment, "id")
    author = text(user, "login")
    if not (repo and number is not None and comment_id is not None and author):
        return "issue_comment without repository, number, comment id or author"
    return PrComment(
        forge=FORGE,
        repo=repo,
        pr_number=number,
        author=author,
        body=comment.get("body") if isinstance(comment.get("body"), str) else "",
        comment_id=comment_id,
        author_is_bot=text(user, "type") == "Bot",
        installation_id=_installation_id(data),
        created_at=text(comment, "created_at"),
    )


def _pull_request(data: dict[str, Any]) -> Event | str:
    action = text(data, "action")
    if action not in ("closed", "enqueued", "dequeued"):
        return f"pull_request {action}: only closed, enqueued and dequeued pull requests matter"
    pr = obj(data, "pull_request")
    repo, number, head = _repo(data), integer(data, "number"), text(obj(pr, "head"), "ref")
    if number is None:
        number = integer(pr, "number")
    if not (repo and number is not None and head):
        return "pull_request without repository, number or head branch"
    if action != "closed":  # the merge queue took it, or let it go (``reason``: why)
        return PrQueued(
            forge=FORGE,
            repo=repo,
            pr_number=number,
            queued=action == "enqueued",
            queue=MERGE_QUEUE,
            head_branch=head,
            base_branch=text(obj(pr, "base"), "ref"),
            reason=text(data, "reason") if action == "dequeued" else None,
        )
    merged = pr.get("merged") is True
    return PrClosed(
        forge=FORGE,
        repo=repo,
        pr_number=number,
        merged=merged,
        head_branch=head,
        base_branch=text(obj(pr, "base"), "ref"),
        closed_by=text(obj(data, "sender"), "login"),
        merge_sha=text(pr, "merge_commit_sha") if merged else None,
    )


MERGE_QUEUE = "merge queue"
#: a merge group's head ref names the last PR it merges: ``refs/heads/gh-readonly-queue/<base>/pr-<n>-<sha>``
_QUEUE_REF = re.compile(r"refs/heads/gh-readonly-queue/.+/pr-(\d+)-[0-9a-f]{40}")


def _merge_group(data: dict[str, Any]) -> Event | str:
    """``checks_requested``: the queue built a group to test the PR in; ``destroyed`` with reason
    ``dequeued``: the PR left the queue (``invalidated`` re-groups it, ``merged`` is followed by
    the PR's ``closed``)."""
    action = text(data, "action")
    reason = text(data, "reason") if action == "destroyed" else None  # only ``destroyed`` has one
    if action == "destroyed" and reason != "dequeued":
        return f"merge_group destroyed ({reason}): the PR stays queued or merged"
    if action not in ("checks_requested", "destroyed"):
        return f"merge_group {action}: not used"
    group = obj(data, "merge_group")
    repo, found = _repo(data), _QUEUE_REF.fullmatch(text(group, "head_ref") or "")
    base = (text(group, "base_ref") or "").removeprefix("refs/heads/")
    if not (repo and found and base):
        return "merge_group without repository, base or a head ref naming its PR"
    return PrQueued(
        forge=FORGE,
        repo=repo,
        pr_number=int(found.group(1)),
        queued=action == "checks_requested",
        queue=MERGE_QUEUE,
        base_branch=base,
        reason=reason,
    )


def _repo_names(items: Any) -> tuple[str, ...]:
    if not isinstance(items, list):
        return ()
    return tuple(name for item in items if (name := text(item, "full_name")))


def _installation(data: dict[str, Any]) -> Event | str:
    action, installation_id = text(data, "action"), _installation_id(data)
    if not action or installation_id is None:
        return "installation without action or id"
    return Installation(action, installation_id, _repo_names(data.get("repositories")))


def _installation_repositories(data: dict[str, Any]) -> Event | str:
    action, installation_id = text(data, "action"), _installation_id(data)
    if action not in ("added", "removed") or installation_id is None:
        return "installation_repositories without a known action or id"
    return Installation(action, installation_id, _repo_names(data.get(f"repositories_{action}")))


def _ping(data: dict[str, Any]) -> str:
    return "ping"


# --- GHCR: ``package`` (repository/organisation webhooks) and ``registry_package`` (Apps) ----------
# Only what GitHub's webhook definitions give each event and action is read: the payload object is
# named by the event; ``container_metadata.tag`` exists for ``published`` only, while ``version``
# (a container version's manifest digest) and ``package_url`` (``<host>/<owner>/<name>:<tag>``)
# exist for both actions. ``container_metadata.manifest`` is an undefined object in those
# definitions; GHCR sends the manifest's ``config.media_type`` there, and a Helm chart's
# (``application/vnd.cncf.helm.config.v1+json``) makes the push a chart's (``oci://…``, only chart
# rules route it). Without it a chart reads as a push of its repository, which chart rules get too.
_CONTAINER_TYPES = ("container", "docker")
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
_GHCR = "ghcr.io"


def _package(event: str, data: dict[str, Any]) -> ImagePushed | str:
    """A container version ``published`` (pushed) or ``updated`` (re-tagged) on GHCR:
    ``<host>/<owner>/<name>`` with the version's tag and digest."""
    action = text(data, "action")
    if action not in ("published", "updated"):
        return f"{event} {action}: only published and updated versions matter"
    pkg = obj(data, event)
    if not pkg:
        return f"{event} {action} without a {event} object"
    name = text(pkg, "name")
    kind = (text(pkg, "package_type") or text(pkg, "ecosystem") or "").lower()
    if kind not in _CONTAINER_TYPES:
        return f"{kind or 'untyped'} package {name!r} is not a container image"
    version = obj(pkg, "package_version")
    tag, digest = _tag_and_digest(action, version)
    if tag is None:
        return f"untagged version of {name!r} (a platform manifest or a push by digest)"
    owner = text(obj(pkg, "owner"), "login")
    if not (owner and name):
        return f"{event} without owner or name"
    created = text(version, "created_at")
    pushed_at = created if created and not created.startswith("0001-") else None
    pushed = chart_pushed if action == "published" and _is_chart(version) else image_pushed
    return pushed(f"{_registry_host(version)}/{owner}/{name}", tag, digest, NAME, pushed_at)


def _is_chart(version: dict[str, Any]) -> bool:
    """The version's manifest config is a Helm chart's, when GHCR says (published versions)."""
    config = obj(obj(obj(version, "container_metadata"), "manifest"), "config")
    return text(config, "media_type") == HELM_CONFIG


def _tag_and_digest(action: str, version: dict[str, Any]) -> tuple[str | None, str | None]:
    """``published``: ``container_metadata.tag`` (name, digest); ``updated``, whose definition has
    no container metadata: the tag of ``package_url`` and the digest that names the version."""
    if action == "published":
        tag = obj(obj(version, "container_metadata"), "tag")
        return text(tag, "name"), text(tag, "digest") or text(version, "version")
    return _url_tag(text(version, "package_url")), text(version, "version")


def _url_tag(url: str | None) -> str | None:
    """``1.4.2`` of ``ghcr.io/octo-org/octo-repo:1.4.2``; None for ``…/octo-repo:`` (untagged)."""
    last = (url or "").rsplit("/", 1)[-1].split("@", 1)[0]
    return last.partition(":")[2] or None


def _registry_host(version: dict[str, Any]) -> str:
    """``ghcr.io``, or the host of ``package_url`` (GitHub Enterprise Server: ``containers.<host>``)."""
    url = text(version, "package_url") or ""
    host = url.split("/", 1)[0] if "/" in url else ""
    return host.lower() if host and "." in host and "npm." not in host else _GHCR


_HANDLERS = {
    "workflow_run": _workflow_run,
    "check_suite": _check_suite,
    "push": _push,
    "issue_comment": _issue_comment,
    "pull_request": _pull_request,
    "merge_group": _merge_group,
    "installation": _installation,
    "installation_repositories": _installation_repositories,
    "ping": _ping,
    "package": partial(_package, "package"),
    "registry_package": partial(_package, "registry_package"),
}
