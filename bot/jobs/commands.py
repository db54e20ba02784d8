"""The chat-ops command job: one PR comment, run under the manifest repo's lock.

``handle_command(event, delivery_id, first_seen, token)`` (queued by the deliveries consumer
through ``bot.jobs.dispatch``):

1. parses the comment; a comment without commands (or by a bot) ends here, with no forge call; so
   does a comment whose commands already ran — once per comment (forge, repository, comment id),
   whatever delivery carried it — and one written longer ago than that memory lasts
   (``delivery_ttl_s``), so no replay of a signed delivery ever runs a command twice. Redis
   remembers the run, and so does the marker of the PR (``bot.services.chatops.memory``): a
   comment delivered again after Redis forgot is found there and not run again either;
2. reacts 👀 on its first attempt, before anything can wait;
3. takes the repo lock that reconcile takes (``bot.store.locks.turn``). When another job holds
   it, the command waits as ``command:<token>`` (the holder's release hands it back and the
   dispatch re-queues it at once; should the holder die, the leader does: ``due:commands``) and
   returns: no worker ever blocks. The reply of a command that waited says how long;
4. runs the commands (``bot.services.chatops.runner.run_comment``), which change the group's
   intents and flags and reconcile the group while the lock is held, so a command and a CI burst
   never interleave; then releases the lock and wakes whatever queued behind it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from bot.core.events import PrComment, event_from_dict
from bot.jobs import runtime
from bot.jobs.dispatch import COMMAND_WAITER, PendingCommand, command_token
from bot.services.chatops.runner import acknowledge, parse, run_comment
from bot.services.reconcile import repo_lock
from bot.store.locks import turn

log = logging.getLogger(__name__)


def handle_command(
    event: dict[str, Any],
    delivery_id: str | None = None,
    first_seen: float | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    container = runtime.current()
    container.config_reloads.refresh()
    dispatch = container.dispatch
    comment = event_from_dict(event)
    if not isinstance(comment, PrComment):
        raise TypeError(f"handle_command needs a pr-comment event, got {comment.kind}")
    once = command_token(comment)
    command = PendingCommand(comment, delivery_id, first_seen, token or once)
    forge_name = container.forge_name_for(comment.forge, comment.repo)
    lock = repo_lock(container.reconcile_deps, forge_name, comment.repo)
    try:
        cdeps = container.chatops.for_comment(forge_name, lock)
    except KeyError as exc:  # a forge the routing config does not know: not ours to answer
        log.warning("comment on %s/%s ignored: %s", comment.forge, comment.repo, exc)
        dispatch.drop_pending(command.token)
        return {"comment": comment.comment_id, "commands": 0, "ignored": str(exc)}
    parsed = parse(cdeps, comment)
    if not container.chatops.enabled():
        dispatch.drop_pending(command.token)
        return {"comment": comment.comment_id, "commands": 0, "ignored": "chat-ops is disabled in the config"}
    if not parsed.items:
        dispatch.drop_pending(command.token)
        return {"comment": comment.comment_id, "commands": 0, "ignored": parsed.ignored}
    stale = _too_old(comment, container.clock(), container.settings.delivery_ttl_s)
    if stale or dispatch.has_run(once):
        dispatch.drop_pending(command.token)
        where = f"{comment.repo}#{comment.pr_number}"
        log.info("comment %s on %s not run: %s", comment.comment_id, where, stale or "it already ran")
        return {"comment": comment.comment_id, "duplicate": True, "ignored": stale or "already ran"}
    if first_seen is None:
        acknowledge(cdeps, comment)
    with turn(lock, COMMAND_WAITER + command.token, dispatch.wake) as held:
        if not held:
            if command.first_seen is None:
                command = PendingCommand(comment, delivery_id, container.clock(), command.token)
            dispatch.keep_pending(command)
            log.info("repo lock %s held; command %s waits", lock.key, command.token)
            return {"comment": comment.comment_id, "deferred": True}
        dispatch.drop_pending(command.token)
        if not dispatch.run_once(once):
            return {"comment": comment.comment_id, "duplicate": True}  # a twin run got here first
        waited = container.clock() - first_seen if first_seen is not None else None
        result = run_comment(cdeps, comment, parsed=parsed, waited_s=waited)
    if result.already:  # Redis forgot the run; the PR's marker did not
        return {"comment": comment.comment_id, "duplicate": True, "ignored": "already ran (its PR says so)"}
    return {
        "comment": comment.comment_id,
        "commands": [c.kind.value for c in parsed.commands],
        "ok": result.ok,
        "waited_s": waited,
    }


def _too_old(comment: PrComment, now: float, window_s: float) -> str | None:
    """Why the comment is too old to run (its run is no longer remembered), or None."""
    written = _epoch(comment.created_at)
    if written is None or now - written <= window_s:
        return None
    return f"written {comment.created_at}, longer ago than commands are remembered ({window_s:.0f} s)"


def _epoch(stamp: str | None) -> float | None:
    """Seconds since the epoch of ``2019-05-15T15:20:21Z``, ``…+02:00`` or GitLab's ``… UTC``."""
    if not stamp:
        return None
    text = stamp.strip()
    if text.endswith(" UTC"):
        text = text[: -len(" UTC")] + "+00:00"
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
