"""What gets queued where: the one place that enqueues rq jobs.

Every job runs on one rq queue (``Settings.queue("jobs")``), taken by each worker through rq's
reliable single-queue path. A person's command goes to the front (people are waiting); reconciles,
registry retries, polls and periodic tasks to the back. Nothing here sleeps or schedules through
rq: what must happen later is a member of a due set (``bot.store.due``) that the periodic leader
(``bot.jobs.leader``) turns into a job when its time comes. That also makes every job safe to
lose: a job that dies with its worker leaves its due entry behind, and the leader queues it again.

- **Reconcile requests after new intents** wait until the group's own intents have been quiet for
  ``SETTLE_S`` (never more than ``SETTLE_MAX_S``: ``bot.store.settling``), so a burst for one
  environment is one sync, not a sync of its first part and another of the rest.
- **Reconcile requests** coalesce: a per-group marker (``reconcile-queued:<group>``, living
  ``MARKER_TTL_S``) holds the id of the group's queued, not yet started job, so a burst of events
  queues one job. The job deletes the marker once it holds the repo lock, right before it reads
  the intents, so an intent merged after that read always queues a new run. Each request also sets
  the group's entry in ``due:reconcile`` to ``SAFETY_S`` later: if the group is still dirty then
  (its job was lost, its lock holder died), the leader asks again. Job ids are
  ``<prefix>-reconcile-<group hash>-<sequence>``, never reused (rq overwrites the hash of a running
  job whose id is reused).
- **Reconcile outcomes**: a clean run removes the due entry; a failed one moves it on by the one
  backoff (exponential with jitter; a forge's ``Retry-After`` wins when longer), counted per group.
- **Commands**, one job per PR comment, with their payload kept under a token while they wait
  (``command-pending:<token>``) and a ``due:commands`` entry that queues them again if their job
  is lost or the lock holder they wait behind dies.
- **The one wake**: waiters handed back by a released repo lock are groups (reconcile again now)
  or ``command:<token>`` (run the waiting command now).
- **GitLab auto-merge wishes**: tried again with backoff until the MR's head has a pipeline.

Job functions are named by their dotted path, so this module imports none of them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from rq import Queue
from rq.registry import StartedJobRegistry

from bot.core.events import DeploymentReported, PrComment, event_from_dict, event_to_dict
from bot.errors import RateLimited
from bot.settings import Settings
from bot.store.due import DueSet
from bot.store.failures import command_done_key
from bot.store.settling import Settling

log = logging.getLogger(__name__)

RECONCILE_FUNC = "bot.jobs.reconcile.reconcile_group"
COMMAND_FUNC = "bot.jobs.commands.handle_command"
DEPLOYMENT_FUNC = "bot.jobs.deployments.tell_deployment"
#: a waiter handed back by a released lock that is a chat-ops command, not a group
COMMAND_WAITER = "command:"
#: a queued reconcile job coalesces later requests this long at most (then a new one is queued:
#: a job stuck behind a long backlog, or lost, never swallows new work for long)
MARKER_TTL_S = 30
#: after a request, the leader makes sure of a still-dirty group (or a waiting command) this late
SAFETY_S = 10.0
#: a group new intents came for is asked to reconcile once none came for this long ...
SETTLE_S = 0.05
#: ... or this long after the first of them, whichever is sooner (``bot.store.settling``)
SETTLE_MAX_S = 1.0
#: how long finished jobs and their results stay in Redis (rq deletes them after)
RESULT_TTL_S = 60
#: a finished reconcile is deleted at once: its outcome lives on the group (status page, PR), and
#: at ~80 reconciles/s (bench/soak.py) a minute of finished jobs was 9,600 keys, most of Redis
RECONCILE_RESULT_TTL_S = 0
FAILURE_TTL_S = 24 * 3600


# --- backoff -----------------------------------------------------------------------------------
def backoff(base_s: float, cap_s: float, attempt: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter over the upper half: ``[d/2, d]``, d = base·2^attempt."""
    ceiling = min(cap_s, base_s * (2**attempt))
    return (rng or random).uniform(ceiling / 2, ceiling)


def retry_delay(base_s: float, cap_s: float, attempt: int, error: BaseException | None) -> float:
    """The backoff for a failed attempt; a forge's ``Retry-After`` wins when it is longer."""
    delay = backoff(base_s, cap_s, attempt)
    if isinstance(error, RateLimited) and error.retry_after:
        return max(delay, error.retry_after)  # the forge said when; never earlier
    return delay


def command_token(event: PrComment) -> str:
    """Names one comment's command run: (forge, repository, comment id), never the delivery id, so
    a comment delivered again under any delivery id finds its run done (the sources read only new
    comments, never edits, so the comment id alone names what was written)."""
    ident = f"{event.forge}|{event.repo}|{event.comment_id}"
    return hashlib.sha1(ident.encode(), usedforsecurity=False).hexdigest()[:20]


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]


# KEYS: sequence, marker, due set. ARGV: job id stem, coalesce ("1"/"0"), marker ttl, due at, group.
# One round trip: nothing when coalescing onto a queued job, else the new job id (marker set, the
# group's safety-net entry moved on, the group starting until its job clears the marker).
_REQUEST = """
if ARGV[2] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then return false end
local id = ARGV[1] .. '-' .. redis.call('INCR', KEYS[1])
redis.call('SET', KEYS[2], id, 'EX', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', ARGV[7])
redis.call('ZADD', KEYS[4], ARGV[6], ARGV[5])
return id
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


@dataclass(frozen=True, slots=True)
class AutoMergeWish:
    forge_name: str
    repo: str
    number: int
    method: str
    attempt: int = 0

    @property
    def ident(self) -> str:
        return json.dumps([self.forge_name, self.repo, self.number])


class Dispatch:
    def __init__(self, conn: redis.Redis, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.conn = conn
        self.settings = settings
        self.clock = clock
        self.queue = Queue(settings.queue("jobs"), connection=conn, default_timeout=settings.job_timeout_s)
        self.reconciles = DueSet(conn, settings.key("due", "reconcile"))
        self.commands = DueSet(conn, settings.key("due", "commands"))
        self.auto_merges = DueSet(conn, settings.key("due", "auto-merge"))
        self.settling = Settling(
            conn,
            settings.key("settling"),
            self.reconciles.key,
            settle_s=SETTLE_S,
            max_wait_s=SETTLE_MAX_S,
            safety_s=SAFETY_S,
        )
        self._attempts_key = settings.key("reconcile", "attempts")
        #: group → until when its requested job counts as on its way before it starts (the
        #: marker's lifetime): between rq's queue and its started registry a job is in neither
        self._starting_key = settings.key("reconcile", "starting")
        self._request = conn.register_script(_REQUEST)

    def enqueue(
        self,
        func: str,
        kwargs: dict[str, Any],
        *,
        job_id: str,
        front: bool = False,
        result_ttl: int = RESULT_TTL_S,
    ) -> None:
        """rq's public enqueue, with the bot's result and failure lifetimes."""
        self.queue.enqueue_call(
            func,
            kwargs=kwargs,
            job_id=job_id,
            at_front=front,
            result_ttl=result_ttl,
            failure_ttl=FAILURE_TTL_S,
            description=job_id,
        )

    def backlog(self) -> dict[str, int]:
        """Groups settling, reconciles requested and not yet started, jobs queued and running
        (rq's public counts): what a quiescence check waits for. The requested count covers the
        moment a worker has taken a reconcile job from the queue but not yet put it in the
        started registry."""
        return {
            "settling": self.settling.count(),
            "starting": int(self.conn.zcount(self._starting_key, self.clock(), "+inf")),
            "queued": self.queue.count,
            "running": StartedJobRegistry(queue=self.queue).count,
        }

    # --- reconcile -----------------------------------------------------------------------------
    def marker_key(self, group_key: str) -> str:
        return self.settings.key("reconcile-queued", group_key)

    def clear_marker(self, group_key: str) -> None:
        """The group's queued job started: the next intent must queue a new run."""
        with self.conn.pipeline(transaction=True) as pipe:
            pipe.delete(self.marker_key(group_key))
            pipe.zrem(self._starting_key, group_key)
            pipe.execute()

    def reconcile_state(self, group_key: str) -> str:
        """ "queued" while a reconcile job of the group waits to start, else "idle"."""
        return "queued" if self.conn.exists(self.marker_key(group_key)) else "idle"

    def request_reconcile(
        self, group_key: str, *, coalesce: bool = True, force: bool = False, recreate: bool = False
    ) -> str | None:
        """Queue a reconcile of the group; the job id, or None when one is already queued."""
        coalesce = coalesce and not (force or recreate)
        stem = f"{self.settings.redis_prefix}-reconcile-{_digest(group_key)}"
        keys = [
            self.settings.key("reconcile-seq", group_key),
            self.marker_key(group_key),
            self.reconciles.key,
            self._starting_key,
        ]
        now = self.clock()
        args = [
            stem,
            "1" if coalesce else "0",
            MARKER_TTL_S,
            now + SAFETY_S,
            group_key,
            now + MARKER_TTL_S,
            now,
        ]
        raw = self._request(keys=keys, args=args)
        if raw is None:
            return None
        job_id = raw.decode() if isinstance(raw, bytes) else str(raw)
        kwargs = {"group_key": group_key, "force": force, "recreate": recreate}
        self.enqueue(RECONCILE_FUNC, kwargs, job_id=job_id, result_ttl=RECONCILE_RESULT_TTL_S)
        return job_id

    def settle(self, group_keys: list[str]) -> None:
        """New intents arrived for these groups: each is asked to reconcile once its own intents
        have been quiet (``request_settled``)."""
        self.settling.settle(group_keys, self.clock())

    def request_settled(self, *, everything: bool = False) -> float | None:
        """Ask the groups whose intents have settled (``everything``: every settling group, for
        a process that drains in one go) to reconcile; when the next one will have, if any."""
        now = self.clock()
        settled, after = self.settling.take(now, everything=everything)
        for group_key in settled:
            self.request_reconcile(group_key)
        self.settling.asked(settled, now)
        return after

    def reconciled(self, group_key: str, *, started_at: float) -> None:
        """The group reconciled cleanly: forget its failures and its safety-net entry (unless a
        request arrived since the run started)."""
        self.conn.hdel(self._attempts_key, group_key)
        self.reconciles.done_unless_moved(group_key, started_at + SAFETY_S)

    def reconcile_failed(self, group_key: str, error: BaseException, *, permanent: bool) -> float:
        """Ask again after the backoff for this failure; returns the delay. A transient failure
        backs off up to ``retry_cap_s`` for ``retry_max`` attempts, then (like a permanent one)
        up to ``dirty_retry_cap_s``: the group keeps its last error on the page meanwhile."""
        s = self.settings
        attempt = int(self.conn.hincrby(self._attempts_key, group_key, 1)) - 1
        fast = not permanent and attempt < s.retry_max
        delay = retry_delay(s.retry_base_s, s.retry_cap_s if fast else s.dirty_retry_cap_s, attempt, error)
        self.reconciles.at({group_key: self.clock() + delay})
        return delay

    def attempts(self, group_key: str) -> int:
        return int(self.conn.hget(self._attempts_key, group_key) or 0)

    # --- chat-ops commands ---------------------------------------------------------------------
    def _pending_key(self, token: str) -> str:
        return self.settings.key("command-pending", token)

    def enqueue_command(self, command: PendingCommand) -> str:
        """Queue the command job for one comment (its payload kept for ``wake`` and the leader);
        the job id."""
        self.keep_pending(command)
        event = command.event
        ident = f"{event.forge}:{event.repo}:{event.comment_id}"
        job_id = f"{self.settings.redis_prefix}-command-{_digest(ident)}-{secrets.token_hex(4)}"
        self.enqueue(COMMAND_FUNC, command.kwargs(), job_id=job_id, front=True)
        return job_id

    # --- deployment reports --------------------------------------------------------------------
    def enqueue_deployment(self, environment: str, report: DeploymentReported, delivery_id: str) -> str:
        """Queue the job telling ``environment``'s PRs about one report (one id per delivery and
        environment: a delivery handled twice queues the same job)."""
        job_id = f"{self.settings.redis_prefix}-deploy-{_digest(delivery_id + '|' + environment)}"
        kwargs = {"environment": environment, "report": event_to_dict(report)}
        self.enqueue(DEPLOYMENT_FUNC, kwargs, job_id=job_id)
        return job_id

    def keep_pending(self, command: PendingCommand) -> None:
        with self.conn.pipeline(transaction=True) as pipe:
            pipe.set(
                self._pending_key(command.token),
                json.dumps(command.kwargs()),
                ex=self.settings.delivery_ttl_s,
            )
            self.commands.at({command.token: self.clock() + SAFETY_S}, pipe=pipe)
            pipe.execute()

    def drop_pending(self, token: str) -> None:
        with self.conn.pipeline(transaction=True) as pipe:
            pipe.delete(self._pending_key(token))
            self.commands.done([token], pipe=pipe)
            pipe.execute()

    def pending(self, token: str) -> PendingCommand | None:
        raw = self.conn.get(self._pending_key(token))
        if raw is None:
            return None
        data = json.loads(raw)
        event = event_from_dict(data["event"])
        if not isinstance(event, PrComment):
            raise TypeError(f"a pending command holds a {event.kind} event")
        return PendingCommand(event, data.get("delivery_id"), data.get("first_seen"), token)

    def run_once(self, token: str) -> bool:
        """True the first time a comment's commands run (a twin job or a replay later: False).
        Remembered for ``delivery_ttl_s``; the command job refuses comments older than that."""
        key = command_done_key(self.settings, token)
        return bool(self.conn.set(key, "1", nx=True, ex=self.settings.delivery_ttl_s))

    def has_run(self, token: str) -> bool:
        return bool(self.conn.exists(command_done_key(self.settings, token)))

    # --- the one wake -----------------------------------------------------------------------------
    def wake(self, waiters: list[str]) -> None:
        """Re-queue whatever waited behind a released lock: commands, and groups."""
        for waiter in waiters:
            if waiter.startswith(COMMAND_WAITER):
                command = self.pending(waiter[len(COMMAND_WAITER) :])
                if command is not None:  # None: already ran
                    self.enqueue_command(command)
            else:
                self.request_reconcile(waiter, coalesce=False)

    # --- GitLab: auto-merge once the head has a pipeline ------------------------------------------
    @property
    def _wishes_key(self) -> str:
        return self.settings.key("auto-merge-wishes")

    def auto_merge_later(self, wish: AutoMergeWish) -> None:
        """Try to turn auto-merge on again after a backoff (``cancel merge`` drops the wish)."""
        data = {"method": wish.method, "attempt": wish.attempt + 1}
        self.conn.hset(self._wishes_key, wish.ident, json.dumps(data))
        self.auto_merges.at({wish.ident: self.clock() + self.backoff(wish.attempt)})

    def auto_merge_wish(self, forge_name: str, repo: str, number: int) -> AutoMergeWish | None:
        ident = json.dumps([forge_name, repo, number])
        raw = self.conn.hget(self._wishes_key, ident)
        if raw is None:
            return None
        data = json.loads(raw)
        return AutoMergeWish(forge_name, repo, number, str(data["method"]), int(data["attempt"]))

    def cancel_auto_merge(self, forge_name: str, repo: str, number: int) -> None:
        ident = json.dumps([forge_name, repo, number])
        self.conn.hdel(self._wishes_key, ident)
        self.auto_merges.done([ident])

    def backoff(self, attempt: int) -> float:
        return backoff(self.settings.retry_base_s, self.settings.retry_cap_s, attempt)
