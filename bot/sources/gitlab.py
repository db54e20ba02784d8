"""GitLab project/group webhooks: ``X-Gitlab-Token`` secret; the delivery id is ``Idempotency-Key``
(GitLab 17.4+: the same on every retry of one event, so a retry dedupes), else
``X-Gitlab-Event-UUID`` (older GitLab). Times are normalised to ISO 8601 UTC: GitLab's hooks send
``2016-08-12 15:26:29 UTC`` (pipeline, job) as well as ISO 8601 (push commits, merge requests)."""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

from bot.core.events import CiFinished, Event, PrClosed, PrComment, PrQueued, Push
from bot.core.versions import parse_instant
from bot.sources.base import (
    Headers,
    ParseResult,
    check_token,
    ignored,
    integer,
    load_object,
    obj,
    require_secrets,
    text,
)

NAME = "gitlab"
FORGE = "gitlab"
_ZERO_SHA = "0" * 40
#: finished pipeline statuses → our CI statuses; running/pending/created/manual are not finished
_STATUSES = {
    "success": "success",
    "failed": "failure",
    "canceled": "cancelled",
    "skipped": "skipped",
}
#: users GitLab creates for project/group access tokens
_BOT_USER = re.compile(r"^(project|group)_\d+_bot(_|$)")


def verify(headers: Headers, body: bytes, secrets: tuple[str, ...]) -> None:
    require_secrets(secrets, NAME)
    token = headers.get("x-gitlab-token")
    check_token([token] if token else [], secrets, "X-Gitlab-Token header")


def detect(headers: Headers, payload: Any) -> bool:
    if "x-gitlab-event" in headers:
        return True
    return isinstance(payload, dict) and "object_kind" in payload and "project" in payload


def delivery_id(headers: Headers) -> str | None:
    """``Idempotency-Key`` first (stable across GitLab's retries), then ``X-Gitlab-Event-UUID``."""
    return headers.get("idempotency-key") or headers.get("x-gitlab-event-uuid") or None


def iso_time(value: str | None) -> str | None:
    """Any time GitLab sends, as ISO 8601 in UTC; what cannot be read is kept as sent (the
    push-time ordering then says it cannot read it)."""
    if not value:
        return None
    try:
        return parse_instant(value).astimezone(UTC).isoformat().replace("+00:00", "Z")
    except (ValueError, OverflowError, OSError):
        return value


def parse(headers: Headers, body: bytes) -> ParseResult:
    delivery = delivery_id(headers)
    data = load_object(body)
    kind = text(data, "object_kind") or headers.get("x-gitlab-event", "")
    handler = _HANDLERS.get(kind)
    if handler is None:
        return ignored(f"GitLab event {kind!r} is not used", delivery)
    outcome = handler(data)
    if isinstance(outcome, str):
        return ignored(outcome, delivery)
    return ParseResult((outcome,), delivery)


def _project(data: dict[str, Any]) -> str | None:
    return text(obj(data, "project"), "path_with_namespace")


#: a merge train pipeline runs on ``refs/merge-requests/<iid>/train`` (docs: ci/pipelines/merge_trains)
_TRAIN_REF = re.compile(r"refs/merge-requests/(\d+)/train")
#: a train pipeline in these states has the MR on the train; failed or canceled, GitLab drops it
_ON_TRAIN = ("created", "waiting_for_resource", "preparing", "pending", "running", "scheduled")
MERGE_TRAIN = "merge train"


def _train(data: dict[str, Any], attrs: dict[str, Any], raw_status: str) -> PrQueued | str | None:
    """A merge train pipeline's event: the MR is on the train, or was dropped from it (None: a
    train pipeline that succeeded, read as any finished pipeline; the MR's merge event follows)."""
    found = _TRAIN_REF.fullmatch(text(attrs, "ref") or "")
    if found is None or raw_status == "success":
        return None
    if raw_status not in _ON_TRAIN and raw_status not in ("failed", "canceled"):
        return f"merge train pipeline {raw_status or 'without status'}: not used"
    repo, mr = _project(data), obj(data, "merge_request")
    if not repo:
        return "merge train pipeline without project"
    return PrQueued(
        forge=FORGE,
        repo=repo,
        pr_number=int(found.group(1)),
        queued=raw_status in _ON_TRAIN,
        queue=MERGE_TRAIN,
        head_branch=text(mr, "source_branch"),
        base_branch=text(mr, "target_branch"),
        reason=None if raw_status in _ON_TRAIN else f"its pipeline {raw_status}",
    )


def _pipeline(data: dict[str, Any]) -> Event | str:
    attrs = obj(data, "object_attributes")
    raw_status = text(attrs, "status") or ""
    train = _train(data, attrs, raw_status)
    if train is not None:
        return train
    status = _STATUSES.get(raw_status)
    if status is None:
        return f"pipeline {raw_status or 'without status'}: not finished"
    repo, sha, pipeline_id = _project(data), text(attrs, "sha"), integer(attrs, "id")
    if not (repo and sha):
        return "pipeline without project or sha"
    ref, is_tag = text(attrs, "ref"), attrs.get("tag") is True
    link = text(attrs, "url")
    web_url = text(obj(data, "project"), "web_url")
    if link is None and web_url and pipeline_id is not None:
        link = f"{web_url}/-/pipelines/{pipeline_id}"
    return CiFinished(
        forge=FORGE,
        repo=repo,
        sha=sha,
        branch=None if is_tag else ref,
        status=status,
        run_id=pipeline_id,
        run_number=integer(attrs, "iid"),
        workflow=text(attrs, "name"),
        link=link,
        tag=ref if is_tag else None,
        finished_at=iso_time(text(attrs, "finished_at")),
        jobs=_succeeded_jobs(data),
    )


#: jobs read from one pipeline event at most (GitLab lists every job of the pipeline)
MAX_JOBS = 500


def _succeeded_jobs(data: dict[str, Any]) -> tuple[str, ...]:
    """Names of the pipeline's jobs that succeeded (``builds``), for CI rules naming jobs."""
    builds = data.get("builds")
    if not isinstance(builds, list):
        return ()
    done = [b for b in builds[:MAX_JOBS] if isinstance(b, dict) and text(b, "status") == "success"]
    return tuple(sorted({name for b in done if (name := text(b, "name"))}))


def _push(data: dict[str, Any]) -> Event | str:
    ref, repo = text(data, "ref"), _project(data)
    before, after = text(data, "before"), text(data, "after")
    if not (ref and repo and before and after):
        return "push without ref, project, before or after"
    if after == _ZERO_SHA:
        return f"push deleted {ref}"
    if not ref.startswith("refs/heads/"):
        return f"push to {ref}: only branches matter"
    return Push(forge=FORGE, repo=repo, ref=ref, before=before, after=after)


def _note(data: dict[str, Any]) -> Event | str:
    attrs = obj(data, "object_attributes")
    noteable = text(attrs, "noteable_type")
    if noteable != "MergeRequest":
        return f"comment on a {noteable or 'thing'}, not a merge request"
    if text(attrs, "action") not in (None, "create"):
        return f"note {text(attrs, 'action')}: only new comments are read"
    repo, iid = _project(data), integer(obj(data, "merge_request"), "iid")
    author, note_id = text(obj(data, "user"), "username"), integer(attrs, "id")
    if not (repo and iid is not None and author and note_id is not None):
        return "note without project, merge request iid, author or id"
    note = attrs.get("note")
    return PrComment(
        forge=FORGE,
        repo=repo,
        pr_number=iid,
        author=author,
        body=note if isinstance(note, str) else "",
        comment_id=note_id,
        author_is_bot=bool(_BOT_USER.match(author)) or obj(data, "user").get("bot") is True,
        created_at=text(attrs, "created_at"),
    )


def _merge_request(data: dict[str, Any]) -> Event | str:
    attrs = obj(data, "object_attributes")
    action = text(attrs, "action")
    if action not in ("close", "merge"):
        return f"merge_request {action}: only closed or merged requests matter"
    repo, iid, head = _project(data), integer(attrs, "iid"), text(attrs, "source_branch")
    if not (repo and iid is not None and head):
        return "merge_request without project, iid or source branch"
    merged = action == "merge"
    return PrClosed(
        forge=FORGE,
        repo=repo,
        pr_number=iid,
        merged=merged,
        head_branch=head,
        base_branch=text(attrs, "target_branch"),
        closed_by=text(obj(data, "user"), "username"),
        merge_sha=text(attrs, "merge_commit_sha") if merged else None,
    )


_HANDLERS = {
    "pipeline": _pipeline,
    "Pipeline Hook": _pipeline,
    "push": _push,
    "Push Hook": _push,
    "note": _note,
    "Note Hook": _note,
    "merge_request": _merge_request,
    "Merge Request Hook": _merge_request,
}
