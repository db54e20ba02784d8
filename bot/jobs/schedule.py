"""What gets queued where: the one place that enqueues rq jobs after intake.

A :class:`Scheduler` is built once per process by the composition root (``bot.deps``) and holds:

- **reconcile requests** with coalescing: a per-group marker ``reconcile-queued:<group>`` holds the
  id of the group's queued, not yet started job, so a burst of events queues one job. The job
  deletes the marker once it holds the repo lock, right before it reads the intents, so an intent
  merged after that read always finds no marker and queues a new run. Job ids are
  ``<prefix>-reconcile-<group hash>-<sequence>``: derived from the group, never reused (rq
  overwrites the hash of a running job whose id is reused); the latest one is known from the
  sequence, so the sweep can tell a group whose job is gone from one whose job waits;
- **the sweep's repairs** (``bot.jobs.sweep``): markers whose job is gone are cleared, groups left
  dirty with no job are reconciled again with backoff, waiters of a lock whose holder died are
  woken;
- **command jobs**, one per PR comment, with their payload kept under a token while they wait;
- **the one wake**: waiters handed back by a released repo lock are groups (reconcile again now)
  or ``command:<token>`` (run the waiting command now);
- **the one fallback**: a job that found the lock held also schedules one delayed run (1–5 s,
  jittered) in case the holder dies before handing it back;
- **the one backoff**: exponential with jitter, for transient-error retries and for GitLab's
  wait for a head pipeline before auto-merge.

Job functions are named by their dotted path, so this module imports none of them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis
from rq import Queue, Retry

from bot.core.events import PrComment, event_from_dict, event_to_dict
from bot.errors import RateLimited, Transient
from bot.settings import Settings
from bot.store import jobs
from bot.store.intents import IntentStore

log = logging.getLogger(__name__)

RECONCILE_FUNC = "bot.jobs.reconcile.reconcile_group"
COMMAND_FUNC = "bot.jobs.commands.handle_command"
AUTO_MERGE_FUNC = "bot.jobs.automerge.auto_merge_when_ready"
#: a waiter handed back by a released lock that is a chat-ops command, not a group
COMMAND_WAITER = "command:"
#: the delayed fallback run of a job that found the repo lock held: at least / at most this long
FALLBACK_MIN_S = 1.0
FALLBACK_MAX_S = 5.0


# --- backoff -----------------------------------------------------------------------------------
def backoff(base_s: float, cap_s: float, attempt: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter over the upper half: ``[d/2, d]``, d = base·2^attempt."""
    ceiling = min(cap_s, base_s * (2**attempt))
    return (rng or random).uniform(ceiling / 2, ceiling)


def retry_delay(base_s: float, cap_s: float, attempt: int, error: Transient) -> float:
    """The backoff for a transient error; a forge's ``Retry-After`` wins when it is longer."""
    delay = backoff(base_s, cap_s, attempt)
    if isinstance(error, RateLimited) and error.retry_after:
        delay = max(delay, error.retry_after)  # the forge said when; never earlier
    return min(delay, max(cap_s, error.retry_after or 0) if isinstance(error, RateLimited) else cap_s)


def fallback_delay(lock_ttl_s: float) -> float:
    """How long a deferred job waits before its fallback run: the holder's remaining lock time,
    bounded to [1, 5] s, jittered so deferred jobs do not all return at once."""
    return min(max(lock_ttl_s, FALLBACK_MIN_S), FALLBACK_MAX_S) * random.uniform(1.0, 1.5)


def command_token(event: PrComment) -> str:
    """Names one comment's command run: (forge, repository, comment id), never the delivery id, so
    a comment delivered again under any delivery id finds its run done (the sources read only new
    comments, never edits, so the comment id alone names what was written)."""
    ident = f"{event.forge}|{event.repo}|{event.comment_id}"
    return hashlib.sha1(ident.encode(), usedforsecurity=False).hexdigest()[:20]


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]


# KEYS: sequence, marker. ARGV: job id stem, coalesce ("1"/"0"), marker ttl.
# One round trip: nothing when coalescing onto a queued job, else the new job id (marker set).
_REQUEST = """
if ARGV[2] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then return false end
local id = ARGV[1] .. '-' .. redis.call('INCR', KEYS[1])
redis.call('SET', KEYS[2], id, 'EX', ARGV[3])
return id
"""

# KEYS: marker. ARGV: the job id it must still hold.
_DELETE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: lock, its waiters. Hands the waiters over when the lock is free (its holder died).
_ORPHANS = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {} end
local waiters = redis.call('SMEMBERS', KEYS[2])
redis.call('DEL', KEYS[2])
return waiters
"""


@dataclass(frozen=True, slots=True)
class PendingCommand:
    """A command job's arguments, kept while it waits for the repo lock."""

    event: PrComment
    delivery_id: str | None
    first_seen: float | None
    token: str

    def kwargs(self) -> dict[str, Any]:
        return {
            "event": event_to_dict(self.event),
            "delivery_id": self.delivery_id,
            "first_seen": self.first_seen,
            "token": self.token,
        }


class Scheduler:
    def __init__(
        self,
        conn: redis.Redis,
        settings: Settings,
        queue: Callable[[str], Queue],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.conn = conn
        self.settings = settings
        self._queue = queue
        self._clock = clock
        self._request = conn.register_script(_REQUEST)
        self._delete_if = conn.register_script(_DELETE_IF)
        self._orphans = conn.register_script(_ORPHANS)

    # --- retries -------------------------------------------------------------------------------
    def retry_policy(self) -> Retry | None:
        """rq's retries of a failed job; None with ``retry_max`` 0 (rq refuses ``Retry(max=0)``):
        a transient failure then waits for the sweep's backoff instead."""
        s = self.settings
        if s.retry_max == 0:
            return None
        return Retry(max=s.retry_max, interval=[math.ceil(backoff(s.retry_base_s, s.retry_cap_s, 0))])

    def backoff(self, attempt: int) -> float:
        return backoff(self.settings.retry_base_s, self.settings.retry_cap_s, attempt)

    # --- reconcile -----------------------------------------------------------------------------
    def marker_key(self, group_key: str) -> str:
        return self.settings.key("reconcile-queued", group_key)

    def clear_marker(self, group_key: str) -> None:
        """The group's queued job started: the next intent must queue a new run."""
        self.conn.delete(self.marker_key(group_key))

    def reconcile_state(self, group_key: str) -> str:
        """ "queued" while a reconcile job of the group waits to start, else "idle"."""
        return "queued" if self.conn.exists(self.marker_key(group_key)) else "idle"

    def request_reconcile(
        self,
        group_key: str,
        *,
        coalesce: bool = True,
        force: bool = False,
        recreate: bool = False,
        delay_s: float = 0,
    ) -> str | None:
        """Queue a reconcile of the group; the job id, or None when one is already queued."""
        coalesce = coalesce and not (force or recreate)
        keys = [self.settings.key("reconcile-seq", group_key), self.marker_key(group_key)]
        args = [self._job_stem(group_key), "1" if coalesce else "0", self.settings.job_timeout_s * 2]
        raw = self._request(keys=keys, args=args)
        if raw is None:
            return None
        job_id = raw.decode() if isinstance(raw, bytes) else str(raw)
        queue = self._queue("reconcile")
        kwargs = {"group_key": group_key, "force": force, "recreate": recreate}
        options: dict[str, Any] = {"job_id": job_id, "retry": self.retry_policy(), "description": group_key}
        if delay_s > 0:
            queue.enqueue_in(timedelta(seconds=delay_s), RECONCILE_FUNC, kwargs=kwargs, **options)
        else:
            queue.enqueue(RECONCILE_FUNC, kwargs=kwargs, **options)
        return job_id

    def reconcile_fallback(self, group_key: str, lock_ttl_s: float, *, force: bool, recreate: bool) -> None:
        """One delayed run of a deferred group, in case the holder dies before handing it back."""
        self._fallback(
            "reconcile-fallback",
            group_key,
            lock_ttl_s,
            lambda delay: self.request_reconcile(
                group_key, coalesce=False, force=force, recreate=recreate, delay_s=delay
            ),
        )

    def _job_stem(self, group_key: str) -> str:
        return f"{self.settings.redis_prefix}-reconcile-{_digest(group_key)}"

    def latest_job_id(self, group_key: str) -> str | None:
        """The id of the group's most recently requested reconcile job (None: never requested)."""
        seq = self.conn.get(self.settings.key("reconcile-seq", group_key))
        return f"{self._job_stem(group_key)}-{int(seq)}" if seq is not None else None

    def has_job(self, group_key: str) -> bool:
        """A reconcile of the group is queued, scheduled (a retry, a fallback) or running."""
        job_id = self.latest_job_id(group_key)
        return job_id is not None and jobs.pending(self._queue("reconcile"), job_id)

    def sweep(self, intents: IntentStore) -> list[str]:
        """Queue a reconcile for every group with work left (a worker starting after a crash)."""
        found = [g for g in intents.groups.all_keys() if intents.dirty(g)]
        for group_key in found:
            self.request_reconcile(group_key)
        return sorted(found)

    def clear_stale_markers(self) -> list[str]:
        """Delete coalescing markers whose job is gone (else the group's events would coalesce
        onto a job that never runs until the marker expires); the groups they named."""
        freed = []
        queue = self._queue("reconcile")
        prefix = self.marker_key("")
        for key in self.conn.scan_iter(match=self.marker_key("*"), count=500):
            job_id = self.conn.get(key)
            if job_id is None or jobs.pending(queue, job_id.decode()):
                continue
            if self._delete_if(keys=[key], args=[job_id]):
                freed.append(key.decode()[len(prefix) :])
        return sorted(freed)

    def retry_dirty(
        self, intents: IntentStore, *, limit: int, groups: Iterable[str] | None = None
    ) -> list[str]:
        """Reconcile again, with backoff per group, each group left dirty with no job (its retries
        ran out, its job was lost); at most ``limit`` a call, among ``groups`` (default: all; the
        sweep and the resync share the backoff). The groups requested."""
        now = self._clock()
        requested: list[str] = []
        for group_key in intents.groups.all_keys() if groups is None else groups:
            state_key = self.settings.key("dirty-retry", group_key)
            if not intents.dirty(group_key):
                self.conn.delete(state_key)
                continue
            if len(requested) >= limit or self.has_job(group_key):
                continue
            raw = self.conn.get(state_key)
            state = json.loads(raw) if raw else {"attempt": 0, "next_at": 0.0}
            if now < state["next_at"]:
                continue
            self.request_reconcile(group_key)
            attempt = state["attempt"] + 1
            delay = backoff(self.settings.sweep_interval_s, self.settings.dirty_retry_cap_s, attempt)
            self.conn.set(state_key, json.dumps({"attempt": attempt, "next_at": now + delay}), ex=7 * 86400)
            requested.append(group_key)
        return requested

    def wake_orphans(self) -> list[str]:
        """Wake what waited behind a repo lock whose holder died without handing it back."""
        woken: list[str] = []
        for key in self.conn.scan_iter(match=self.settings.key("lock", "*"), count=500):
            name = key.decode()
            if not name.endswith(":waiters"):
                if self.conn.pttl(name) == -1:  # a lock without expiry can only be a leftover
                    self.conn.delete(name)
                continue
            waiters = [w.decode() for w in self._orphans(keys=[name[: -len(":waiters")], name])]
            self.wake(waiters)
            woken.extend(waiters)
        return woken

    # --- chat-ops commands ---------------------------------------------------------------------
    def _pending_key(self, token: str) -> str:
        return self.settings.key("command-pending", token)

    def enqueue_command(self, command: PendingCommand, *, delay_s: float = 0) -> str:
        """Queue the command job for one comment (its payload kept for ``wake``); the job id."""
        self.keep_pending(command)
        event = command.event
        ident = f"{event.forge}:{event.repo}:{event.comment_id}"
        job_id = f"{self.settings.redis_prefix}-command-{_digest(ident)}-{secrets.token_hex(4)}"
        queue = self._queue("commands")
        if delay_s > 0:
            queue.enqueue_in(timedelta(seconds=delay_s), COMMAND_FUNC, kwargs=command.kwargs(), job_id=job_id)
        else:
            queue.enqueue(COMMAND_FUNC, kwargs=command.kwargs(), job_id=job_id, description=ident)
        return job_id

    def keep_pending(self, command: PendingCommand) -> None:
        self.conn.set(
            self._pending_key(command.token),
            json.dumps(command.kwargs()),
            ex=self.settings.job_timeout_s * 4,
        )

    def drop_pending(self, token: str) -> None:
        self.conn.delete(self._pending_key(token))

    def pending(self, token: str) -> PendingCommand | None:
        raw = self.conn.get(self._pending_key(token))
        if raw is None:
            return None
        data = json.loads(raw)
        event = event_from_dict(data["event"])
        if not isinstance(event, PrComment):
            raise TypeError(f"a pending command holds a {event.kind} event")
        return PendingCommand(event, data.get("delivery_id"), data.get("first_seen"), token)

    def defer_command(self, command: PendingCommand, lock_ttl_s: float) -> None:
        """The lock is held: keep the payload for ``wake`` and schedule the fallback run."""
        self.keep_pending(command)
        self._fallback(
            "command-fallback",
            command.token,
            lock_ttl_s,
            lambda delay: self.enqueue_command(command, delay_s=delay),
        )

    def run_once(self, token: str) -> bool:
        """True the first time a comment's commands run (a twin job or a replay later: False).
        Remembered for ``delivery_ttl_s``; the command job refuses comments older than that."""
        key = self.settings.key("command-done", token)
        return bool(self.conn.set(key, "1", nx=True, ex=self.settings.delivery_ttl_s))

    def has_run(self, token: str) -> bool:
        return bool(self.conn.exists(self.settings.key("command-done", token)))

    # --- the one wake and the one fallback ---------------------------------------------------------
    def wake(self, waiters: list[str]) -> None:
        """Re-queue whatever waited behind a released lock: commands, and groups."""
        for waiter in waiters:
            if waiter.startswith(COMMAND_WAITER):
                command = self.pending(waiter[len(COMMAND_WAITER) :])
                if command is not None:  # None: already ran (its fallback got there first)
                    self.enqueue_command(command)
            else:
                self.request_reconcile(waiter, coalesce=False)

    def _fallback(self, kind: str, ident: str, lock_ttl_s: float, run: Callable[[float], object]) -> None:
        delay = fallback_delay(lock_ttl_s)
        if self.conn.set(self.settings.key(kind, ident), "1", nx=True, px=int(delay * 1000)):
            run(delay)

    # --- GitLab: auto-merge once the head has a pipeline ----------------------------------------------
    def _auto_merge_key(self, forge_name: str, repo: str, number: int) -> str:
        return self.settings.key("auto-merge-wanted", forge_name, repo, number)

    def auto_merge_later(
        self, forge_name: str, repo: str, number: int, method: str, *, attempt: int = 0
    ) -> None:
        """Try to turn auto-merge on again after a backoff (``cancel merge`` drops the wish)."""
        wish = self._auto_merge_key(forge_name, repo, number)
        self.conn.set(wish, method, ex=self.settings.job_timeout_s * 20)
        kwargs = {"forge_name": forge_name, "repo": repo, "number": number, "attempt": attempt + 1}
        # one id per PR and attempt: a repeated `merge` reschedules the same job instead of adding one
        pr = _digest(f"{forge_name}:{repo}:{number}")
        job_id = f"{self.settings.redis_prefix}-automerge-{pr}-{attempt + 1}"
        self._queue("commands").enqueue_in(
            timedelta(seconds=self.backoff(attempt)), AUTO_MERGE_FUNC, kwargs=kwargs, job_id=job_id
        )

    def auto_merge_wish(self, forge_name: str, repo: str, number: int) -> str | None:
        raw = self.conn.get(self._auto_merge_key(forge_name, repo, number))
        return raw.decode() if raw is not None else None

    def cancel_auto_merge(self, forge_name: str, repo: str, number: int) -> None:
        self.conn.delete(self._auto_merge_key(forge_name, repo, number))
