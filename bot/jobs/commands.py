"""The chat-ops command job: one PR comment, run under the manifest repo's lock.

``enqueue_command(container, event, delivery_id)`` queues ``handle_command`` on the ``commands``
queue (``bot.jobs.handle_delivery`` calls it for every ``PrComment``). The job:

1. parses the comment; a comment without commands (or by a bot) ends here, with no forge call;
2. reacts 👀 on its first attempt, before anything can wait;
3. takes the repo lock that reconcile takes (``bot.services.reconcile.lock_for``). When another
   job holds it, the command registers as a waiter ``command:<token>`` (the holder's release
   hands it back and ``wake`` re-queues it at once) plus a delayed fallback run, and returns —
   no worker ever blocks. The reply of a command that waited says how long;
4. runs the commands (``bot.services.chatops.runner.run_comment``), which change the group's intents
   and flags and reconcile the group while the lock is held, so a command and a CI burst never
   interleave; then releases the lock and wakes whatever queued behind it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import secrets
from datetime import timedelta
from typing import Any

from bot import deps
from bot.core.chatops.authz import Policy
from bot.core.events import PrComment, event_from_dict, event_to_dict
from bot.core.intents import Origin, PlanResult
from bot.core.keys import GroupKey
from bot.deps import Container
from bot.errors import BotError, Transient
from bot.services.chatops.runner import ChatopsDeps, acknowledge, parse, run_comment
from bot.store.locks import RepoLock

log = logging.getLogger(__name__)

COMMAND_FUNC = "bot.jobs.commands.handle_command"
WAITER_PREFIX = "command:"
FALLBACK_MIN_S = 1.0
FALLBACK_MAX_S = 5.0


# --- enqueue / wake ----------------------------------------------------------------------------
def _pending_key(container: Container, token: str) -> str:
    return container.settings.key("command-pending", token)


def enqueue_command(
    container: Container,
    event: PrComment,
    delivery_id: str | None = None,
    *,
    first_seen: float | None = None,
    token: str | None = None,
    delay_s: float = 0,
) -> str:
    """Queue the command job for one comment; returns the job id. The token is derived from the
    delivery and comment, so a retried delivery job cannot run the same comment twice."""
    token = token or _token(event, delivery_id)
    kwargs = {
        "event": event_to_dict(event),
        "delivery_id": delivery_id,
        "first_seen": first_seen,
        "token": token,
    }
    container.redis.set(
        _pending_key(container, token), json.dumps(kwargs), ex=container.settings.job_timeout_s * 4
    )
    ident = f"{event.forge}:{event.repo}:{event.comment_id}"
    digest = hashlib.sha1(ident.encode(), usedforsecurity=False).hexdigest()[:16]
    job_id = f"{container.settings.redis_prefix}-command-{digest}-{secrets.token_hex(4)}"
    queue = container.queue("commands")
    if delay_s > 0:
        queue.enqueue_in(timedelta(seconds=delay_s), COMMAND_FUNC, kwargs=kwargs, job_id=job_id)
    else:
        queue.enqueue(COMMAND_FUNC, kwargs=kwargs, job_id=job_id, description=ident)
    return job_id


def _token(event: PrComment, delivery_id: str | None) -> str:
    ident = f"{delivery_id}|{event.forge}|{event.repo}|{event.pr_number}|{event.comment_id}"
    return hashlib.sha1(ident.encode(), usedforsecurity=False).hexdigest()[:20]


def wake(container: Container, waiter: str) -> bool:
    """Re-queue a command that waited behind the lock (``command:<token>``); False for others."""
    if not waiter.startswith(WAITER_PREFIX):
        return False
    token = waiter[len(WAITER_PREFIX) :]
    raw = container.redis.get(_pending_key(container, token))
    if raw is None:
        return True  # already ran (its fallback got there first)
    kwargs = json.loads(raw)
    event = event_from_dict(kwargs["event"])
    assert isinstance(event, PrComment)
    enqueue_command(
        container, event, kwargs.get("delivery_id"), first_seen=kwargs.get("first_seen"), token=token
    )
    return True


def wake_all(container: Container, waiters: list[str]) -> None:
    from bot.jobs.reconcile import request_reconcile

    for waiter in waiters:
        if not wake(container, waiter):
            request_reconcile(container, waiter, coalesce=False)


# --- the job -----------------------------------------------------------------------------------
def handle_command(
    event: dict[str, Any],
    delivery_id: str | None = None,
    first_seen: float | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    container = deps.current()
    comment = event_from_dict(event)
    if not isinstance(comment, PrComment):
        raise TypeError(f"handle_command needs a pr-comment event, got {comment.kind}")
    token = token or _token(comment, delivery_id)
    forge_name = forge_name_for(container, comment.forge, comment.repo)
    lock = _lock(container, forge_name, comment.repo)
    try:
        cdeps = chatops_deps(container, forge_name, lock)
    except KeyError as exc:  # a forge the routing config does not know: not ours to answer
        log.warning("comment on %s/%s ignored: %s", comment.forge, comment.repo, exc)
        return {"comment": comment.comment_id, "commands": 0, "ignored": str(exc)}
    parsed = parse(cdeps, comment)
    config = _config_or_none(container)
    if config is not None and not config.chatops.enabled:
        return {"comment": comment.comment_id, "commands": 0, "ignored": "chat-ops is disabled in the config"}
    if not parsed.items:
        container.redis.delete(_pending_key(container, token))
        return {"comment": comment.comment_id, "commands": 0, "ignored": parsed.ignored}
    if first_seen is None:
        acknowledge(cdeps, comment)
    member = f"{WAITER_PREFIX}{token}"
    lock.add_waiter(member)  # before trying: a release between the two still hands us back
    if not lock.acquire():
        return _defer(container, comment, delivery_id, first_seen, token=token, lock=lock)
    try:
        lock.remove_waiter(member)
        container.redis.delete(_pending_key(container, token))
        done = container.settings.key("command-done", token)
        if not container.redis.set(done, "1", nx=True, ex=container.settings.delivery_ttl_s):
            return {"comment": comment.comment_id, "duplicate": True}  # a twin run got here first
        waited = container.clock() - first_seen if first_seen is not None else None
        result = run_comment(cdeps, comment, parsed=parsed, waited_s=waited)
    finally:
        waiters = [w for w in lock.release() if w != member]
        wake_all(container, waiters)
    return {
        "comment": comment.comment_id,
        "commands": [c.kind.value for c in parsed.commands],
        "ok": result.ok,
        "waited_s": waited,
    }


def _defer(
    container: Container,
    comment: PrComment,
    delivery_id: str | None,
    first_seen: float | None,
    *,
    token: str,
    lock: RepoLock,
) -> dict[str, Any]:
    """The lock is held: keep the payload for ``wake`` and schedule a fallback run."""
    first_seen = first_seen if first_seen is not None else container.clock()
    kwargs = {
        "event": event_to_dict(comment),
        "delivery_id": delivery_id,
        "first_seen": first_seen,
        "token": token,
    }
    container.redis.set(
        _pending_key(container, token), json.dumps(kwargs), ex=container.settings.job_timeout_s * 4
    )
    delay = min(max(lock.held_ms() / 1000, FALLBACK_MIN_S), FALLBACK_MAX_S) * random.uniform(1.0, 1.5)
    fallback = container.settings.key("command-fallback", token)
    if container.redis.set(fallback, "1", nx=True, px=int(delay * 1000)):
        enqueue_command(container, comment, delivery_id, first_seen=first_seen, token=token, delay_s=delay)
    log.info("repo lock %s held; command %s waits", lock.key, token)
    return {"comment": comment.comment_id, "deferred": True}


# --- wiring ------------------------------------------------------------------------------------
def forge_name_for(container: Container, kind: str, repo: str) -> str:
    """The config's forge name for an event's forge kind: the one with targets in ``repo``."""
    try:
        config = container.config
    except BotError:
        return kind  # no routing config (tests with preset forges): the kind is the name
    names = [f.name for f in config.forges if kind in (f.kind, f.name)]
    for name in names:
        if config.targets_in_repo(name, repo):
            return name
    return names[0] if names else kind


def _lock(container: Container, forge_name: str, repo: str) -> RepoLock:
    from bot.services.reconcile import repo_lock

    return repo_lock(container.reconcile_deps, forge_name, repo)


def chatops_deps(container: Container, forge_name: str, lock: RepoLock) -> ChatopsDeps:
    from bot.services.reconcile import reconcile_locked

    settings = container.settings
    config = _config_or_none(container)
    bot = getattr(config, "bot", None) if config is not None else None

    def reconcile(group_key: str, *, force: bool = False, recreate: bool = False) -> None:
        try:
            reconcile_locked(container.reconcile_deps, group_key, force=force, recreate=recreate, lock=lock)
        except Transient:
            _request(container, group_key)  # the reconcile job retries with backoff
            raise

    return ChatopsDeps(
        forge=container.forge(forge_name),
        forge_name=forge_name,
        groups=container.intents.groups,
        intents=container.intents,
        reconcile=reconcile,
        policy=Policy.from_chatops(config.chatops) if config is not None else Policy(),
        prefix=(bot.command_prefix if bot and bot.command_prefix else settings.command_prefix),
        bot_login=(bot.login if bot and bot.login else settings.bot_login),
        chain_for=config.promotion_chain if config is not None else (lambda _n: ()),
        plan_for=_planner(config),
        enqueue_reconcile=lambda group_key: _request(container, group_key),
        queue_state=lambda group_key: _queue_state(container, group_key),
        environment_of=lambda group_key: _environment_of(config, group_key),
        schedule_auto_merge=(
            (lambda repo, number, method: schedule_auto_merge(container, forge_name, repo, number, method))
            if container.forge(forge_name).info.kind == "gitlab"
            else None
        ),
        cancel_auto_merge=lambda repo, number: container.redis.delete(
            _auto_merge_key(container, forge_name, repo, number)
        ),
    )


# --- GitLab: auto-merge only once the head has a pipeline ------------------------------------------
AUTO_MERGE_FUNC = "bot.jobs.commands.auto_merge_when_ready"
AUTO_MERGE_ATTEMPTS = 20


def _auto_merge_key(container: Container, forge_name: str, repo: str, number: int) -> str:
    return container.settings.key("auto-merge-wanted", forge_name, repo, number)


def schedule_auto_merge(
    container: Container, forge_name: str, repo: str, number: int, method: str, *, attempt: int = 0
) -> None:
    """Try to turn auto-merge on again later (``cancel merge`` deletes the wish)."""
    key = _auto_merge_key(container, forge_name, repo, number)
    container.redis.set(key, method, ex=container.settings.job_timeout_s * 20)
    delay = min(container.settings.retry_base_s * (2**attempt), container.settings.retry_cap_s)
    kwargs = {"forge_name": forge_name, "repo": repo, "number": number, "attempt": attempt + 1}
    # one id per PR and attempt: a repeated `merge` reschedules the same job instead of adding one
    pr = hashlib.sha1(f"{forge_name}:{repo}:{number}".encode(), usedforsecurity=False).hexdigest()[:16]
    job_id = f"{container.settings.redis_prefix}-automerge-{pr}-{attempt + 1}"
    container.queue("commands").enqueue_in(
        timedelta(seconds=delay), AUTO_MERGE_FUNC, kwargs=kwargs, job_id=job_id
    )


def auto_merge_when_ready(forge_name: str, repo: str, number: int, attempt: int) -> dict[str, Any]:
    container = deps.current()
    method = container.redis.get(_auto_merge_key(container, forge_name, repo, number))
    if method is None:
        return {"pr": number, "cancelled": True}
    forge = container.forge(forge_name)
    if forge.get_pr(repo, number).state != "open":
        container.redis.delete(_auto_merge_key(container, forge_name, repo, number))
        return {"pr": number, "closed": True}
    if forge.enable_auto_merge(repo, number, method.decode()):  # type: ignore[arg-type]
        container.redis.delete(_auto_merge_key(container, forge_name, repo, number))
        return {"pr": number, "auto_merge": True}
    if attempt >= AUTO_MERGE_ATTEMPTS:
        container.redis.delete(_auto_merge_key(container, forge_name, repo, number))
        forge.comment(
            repo,
            number,
            "I could not turn auto-merge on: no pipeline ran for the head. "
            "Comment `merge` again once it has.",
        )
        return {"pr": number, "gave_up": True}
    schedule_auto_merge(container, forge_name, repo, number, method.decode(), attempt=attempt)
    return {"pr": number, "waiting": True}


def _request(container: Container, group_key: str) -> None:
    from bot.jobs.reconcile import request_reconcile

    request_reconcile(container, group_key)


def _config_or_none(container: Container) -> Any:
    try:
        return container.config
    except BotError:
        return None


def _planner(config: Any) -> Any:
    def plan_for(
        image: str, tag: str | None, digest: str | None, environment: str, *, rollback: bool, ordering: Any
    ) -> PlanResult:
        if config is None:
            return PlanResult()
        from bot.core.planning import plan_for_environment

        origin = Origin(source="chatops")
        return plan_for_environment(
            config, image, tag, digest, environment, origin=origin, rollback=rollback, ordering=ordering
        )

    return plan_for


def _environment_of(config: Any, group_key: str) -> str | None:
    if config is None:
        return None
    key = GroupKey.parse(group_key)
    for target in config.targets_in_repo(key.forge, key.repo):
        if target.environment and target.branch == key.base and target.group_name == key.group:
            return str(target.environment)
    return None


def _queue_state(container: Container, group_key: str) -> str:
    from bot.jobs.reconcile import marker_key

    return "queued" if container.redis.exists(marker_key(container, group_key)) else "idle"
