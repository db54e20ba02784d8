"""The periodic leader: one worker at a time turns what is due into jobs.

Every worker's engine (``bot.jobs.engine``) calls ``Leader.tick`` about once a second. One script
decides and takes, in one round trip:

1. **Who leads.** ``<prefix>:leader`` holds the leader's token for ``LEADER_TTL_MS``; the holder's
   tick extends it, anyone's tick takes it when it is free. A leader that dies loses it within
   that time (no clean-up needed, no split brain beyond one slot: every member taken is moved on
   in the same step, so a member is never taken twice in one slot);
2. **What is due**, over every due set (``bot.store.due``): each member whose time has come is
   returned and moved ``REARM_S`` on, so work taken by a leader that dies before acting comes back.

Then the leader acts on each member (``Sources``): periodic tasks (``periodic_tasks`` of the
composition root: sweep, resync, webhook recovery) are queued as ``run_task`` jobs and set to
their next run; a group still dirty after its reconcile should have run is asked again; a command
still pending is queued again; a version waiting for its registry is asked about; due images are
polled in batches; a GitLab auto-merge wish is tried again. An idle tick is two commands (this
script, and the poll schedule's own).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis

from bot.jobs.dispatch import Dispatch
from bot.metrics import PERIODIC_RUNS
from bot.settings import Settings
from bot.store.due import DueSet
from bot.store.intents import IntentStore

log = logging.getLogger(__name__)

TASK_FUNC = "bot.jobs.periodic.run_task"
RETRY_WAITING_FUNC = "bot.jobs.registry.retry_waiting"
POLL_FUNC = "bot.jobs.registry.poll_images"
AUTO_MERGE_FUNC = "bot.jobs.automerge.auto_merge_when_ready"
#: the leader's hold lasts this long without a tick (a dead leader is replaced within it)
LEADER_TTL_MS = 5000
#: a member taken is due again this much later unless its handler set another time
REARM_S = 30.0
#: members taken per set per tick
TAKE_LIMIT = 200
#: images taken per tick for polling (a whole cycle of a large config in one tick)
POLL_TAKE_LIMIT = 1000
#: images polled by one job
POLL_BATCH = 100

# KEYS: leader, then every due set (the tasks set first when task names are given). ARGV: token,
# ttl ms, now, limit, rearm, then the task names. Nothing unless we lead; else the due members of
# each due set.
_TICK = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
elseif not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  return false
end
local now = tonumber(ARGV[3])
for i = 6, #ARGV do redis.call('ZADD', KEYS[2], 'NX', now, ARGV[i]) end
local out = {}
for k = 2, #KEYS do
  local due = redis.call('ZRANGEBYSCORE', KEYS[k], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
  for _, member in ipairs(due) do redis.call('ZADD', KEYS[k], now + tonumber(ARGV[5]), member) end
  out[#out + 1] = due
end
return out
"""


_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


@dataclass(frozen=True, slots=True)
class Task:
    """A periodic task: a module-level function taking no arguments and returning a dict of
    counts, run every ``every_s`` seconds, one run at a time across workers."""

    name: str
    func: str  # dotted path
    every_s: float


@dataclass(frozen=True, slots=True)
class Sources:
    """The due sets the leader watches, besides its own tasks set."""

    registry_waits: DueSet  # group → its next registry retry (``bot.store.waiting``)
    #: the images whose poll is due now, each set to its next poll (``PollSchedule.take``)
    polls: Callable[[float, int], list[str]]


def _slot_id(prefix: str, kind: str, ident: str, now: float) -> str:
    digest = hashlib.sha1(ident.encode(), usedforsecurity=False).hexdigest()[:12]
    return f"{prefix}-{kind}-{digest}-{int(now)}"


class Leader:
    def __init__(
        self,
        conn: redis.Redis,
        settings: Settings,
        dispatch: Dispatch,
        intents: IntentStore,
        *,
        sources: Sources,
        tasks: Callable[[], Sequence[Task]],
        clock: Callable[[], float] = time.time,
        name: str = "",
    ) -> None:
        self.conn = conn
        self.settings = settings
        self.dispatch = dispatch
        self.intents = intents
        self.sources = sources
        self._tasks = tasks
        self.clock = clock
        self.token = f"{name or 'worker'}:{secrets.token_hex(8)}"
        self.tasks = DueSet(conn, settings.key("due", "tasks"))
        self._key = settings.key("leader")
        self._tick = conn.register_script(_TICK)

    def tick(self, *, periodic: bool = True) -> dict[str, int] | None:
        """Lead (or not) and act on what is due; counts of what was queued, or None when another
        worker leads. ``periodic=False`` leaves the periodic tasks alone (a process that runs
        the bot in its own thread for a moment: the demo, the ``local`` commands). Never raises
        for Redis trouble (the next tick tries again)."""
        try:
            return self._tick_once(periodic)
        except redis.RedisError as exc:
            log.warning("leader tick failed: %s", type(exc).__name__)
            return None

    def release(self) -> None:
        """Give up the lead (a worker shutting down: another one takes over at its next tick)."""
        with contextlib.suppress(redis.RedisError):  # it expires by itself
            self.conn.eval(_RELEASE, 1, self._key, self.token)

    def _tick_once(self, periodic: bool) -> dict[str, int] | None:
        now = self.clock()
        tasks = {t.name: t for t in self._tasks()} if periodic else {}
        sets = [self.tasks] if periodic else []
        sets += [self.dispatch.reconciles, self.dispatch.commands, self.dispatch.auto_merges]
        sets.append(self.sources.registry_waits)
        keys = [self._key, *(s.key for s in sets)]
        args = [self.token, LEADER_TTL_MS, now, TAKE_LIMIT, REARM_S, *sorted(tasks)]
        found = self._tick(keys=keys, args=args)
        if found is None:
            return None
        due = [[m.decode() for m in d] for d in found]
        due_tasks = due.pop(0) if periodic else []
        reconciles, commands, merges, waits = due
        polls = self.sources.polls(now, POLL_TAKE_LIMIT)
        return {
            "tasks": self._run_tasks(due_tasks, tasks, now),
            "reconciles": self._reconciles(reconciles, now),
            "commands": self._commands(commands),
            "auto_merges": self._auto_merges(merges, now),
            "registry_waits": self._registry_waits(waits, now),
            "polls": self._polls(polls, now),
        }

    def _run_tasks(self, due: list[str], tasks: dict[str, Task], now: float) -> int:
        for name in due:
            task = tasks.get(name)
            if task is None:  # no longer configured
                self.tasks.done([name])
                continue
            job_id = _slot_id(self.settings.redis_prefix, "task", name, now)
            self.dispatch.enqueue(TASK_FUNC, {"name": name}, job_id=job_id)
            self.tasks.at({name: now + task.every_s})
            PERIODIC_RUNS.labels(job=name, outcome="queued").inc()
        return len(due)

    def _reconciles(self, groups: list[str], now: float) -> int:
        asked = 0
        for group_key in groups:
            if not self.intents.dirty(group_key):
                self.dispatch.reconciles.done_unless_moved(group_key, now + REARM_S)
            else:  # its job was lost, or waits behind a backlog: a twin run is harmless, a loss is not
                self.dispatch.request_reconcile(group_key, coalesce=False)
                asked += 1
                log.info("group %s still has work: reconcile queued again", group_key)
        return asked

    def _commands(self, tokens: list[str]) -> int:
        queued = 0
        for token in tokens:
            command = self.dispatch.pending(token)
            if command is None:
                self.dispatch.commands.done([token])
                continue
            self.dispatch.enqueue_command(command)
            queued += 1
        return queued

    def _auto_merges(self, idents: list[str], now: float) -> int:
        for ident in idents:
            forge_name, repo, number = json.loads(ident)
            kwargs = {"forge_name": forge_name, "repo": repo, "number": int(number)}
            job_id = _slot_id(self.settings.redis_prefix, "automerge", ident, now)
            self.dispatch.enqueue(AUTO_MERGE_FUNC, kwargs, job_id=job_id)
        return len(idents)

    def _registry_waits(self, groups: list[str], now: float) -> int:
        for group_key in groups:
            job_id = _slot_id(self.settings.redis_prefix, "registry-wait", group_key, now)
            self.dispatch.enqueue(RETRY_WAITING_FUNC, {"group_key": group_key}, job_id=job_id)
        return len(groups)

    def _polls(self, images: list[str], now: float) -> int:
        for start in range(0, len(images), POLL_BATCH):
            batch = images[start : start + POLL_BATCH]
            job_id = _slot_id(self.settings.redis_prefix, "poll", ",".join(batch), now)
            self.dispatch.enqueue(POLL_FUNC, {"images": batch}, job_id=job_id)
        return len(images)
