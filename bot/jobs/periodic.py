"""Periodic jobs: each runs every N seconds, at most one run at a time across all workers.

A :class:`PeriodicJob` names an rq job function (dotted path, primitive keyword arguments), an
interval and a queue. Every worker ticks :class:`Periodic` from its maintenance loop
(``bot.jobs.worker``); Redis decides:

1. **Due, once per slot.** ``<prefix>:periodic:next:<name>`` holds the next run's time. A tick
   runs one script that, when the time has come, moves it one interval on and answers "enqueue";
   of many workers ticking at once exactly one gets that answer. The job id is
   ``<prefix>-periodic-<name hash>-<slot>``, so even a repeated enqueue of one slot is one job.
2. **Never twice at once.** The job runs through :func:`run_periodic`, which holds
   ``<prefix>:periodic:running:<name>`` (a heartbeated lock, ``bot.store.locks``) while the
   function runs; a run that finds it held ends at once as ``skipped`` (a slow run is never
   overtaken by the next slot).
3. **Measured.** Every run records its outcome, duration and the function's result (a dict of
   counts) in ``<prefix>:periodic:last:<name>`` (the status page shows it) and in the metrics
   ``manifest_bot_periodic_runs_total{job,outcome}`` and ``manifest_bot_periodic_seconds{job}``.

Adding a periodic job (docs/operations.md, "Periodic jobs"): write a module-level function taking
primitive keyword arguments, doing a bounded amount of work and returning a dict of counts; add a
``PeriodicJob`` for it to ``Container.periodic_jobs`` (``bot/deps.py``). Several instances of one
function (one per image, say) are several ``PeriodicJob``s with distinct names and kwargs.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from rq import Queue

from bot.jobs import runtime
from bot.metrics import PERIODIC_RUNS, PERIODIC_SECONDS
from bot.settings import Settings
from bot.store.locks import RepoLock

log = logging.getLogger(__name__)

RUN_FUNC = "bot.jobs.periodic.run_periodic"

# KEYS: next-run key. ARGV: now, interval. Returns the slot number when due (and moves it on).
_DUE = """
local now = tonumber(ARGV[1])
local next_at = tonumber(redis.call('GET', KEYS[1]) or '0')
if now < next_at then return false end
redis.call('SET', KEYS[1], tostring(now + tonumber(ARGV[2])))
return math.floor(now / tonumber(ARGV[2]))
"""


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    name: str  # unique among periodic jobs; names its keys, metrics and status row
    func: str  # dotted path of a module-level function
    every_s: float
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str = "reconcile"  # one of the bot's queues (reconcile: after people and events)


class Periodic:
    """Enqueues the periodic jobs that are due (any worker may tick; one wins each slot)."""

    def __init__(
        self,
        conn: redis.Redis,
        settings: Settings,
        queue: Callable[[str], Queue],
        jobs: Callable[[], Sequence[PeriodicJob]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.conn = conn
        self.settings = settings
        self._queue = queue
        self._jobs = jobs
        self._clock = clock
        self._due = conn.register_script(_DUE)

    def tick(self) -> list[str]:
        """Enqueue every job whose time has come; the names enqueued. Never raises for Redis
        trouble (the next tick tries again)."""
        enqueued = []
        try:
            for job in self._jobs():
                key = self.settings.key("periodic", "next", job.name)
                slot = self._due(keys=[key], args=[self._clock(), job.every_s])
                if slot is None:
                    continue
                self._enqueue(job, int(slot))
                enqueued.append(job.name)
        except redis.RedisError as exc:
            log.warning("periodic tick failed: %s", type(exc).__name__)
        return enqueued

    def _enqueue(self, job: PeriodicJob, slot: int) -> None:
        ident = hashlib.sha1(job.name.encode(), usedforsecurity=False).hexdigest()[:12]
        self._queue(job.queue).enqueue(
            RUN_FUNC,
            kwargs={"name": job.name, "func": job.func, "kwargs": job.kwargs},
            job_id=f"{self.settings.redis_prefix}-periodic-{ident}-{slot}",
            description=f"periodic {job.name}",
            result_ttl=max(int(job.every_s) * 2, 60),
            failure_ttl=24 * 3600,
        )

    def last_runs(self) -> dict[str, dict[str, Any]]:
        """name → what its last run recorded (for the status page)."""
        out = {}
        for job in self._jobs():
            raw = self.conn.get(self.settings.key("periodic", "last", job.name))
            if raw is not None:
                out[job.name] = json.loads(raw)
        return out


def _resolve(path: str) -> Callable[..., dict[str, Any]]:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def run_periodic(name: str, func: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The rq job of every periodic run: the single-instance lock, then ``func(**kwargs)``."""
    container = runtime.current()
    settings = container.settings
    lock = RepoLock(
        container.redis, settings.key("periodic", "running", name), timeout_s=settings.lock_timeout_s
    )
    if not lock.acquire():
        PERIODIC_RUNS.labels(job=name, outcome="skipped").inc()
        return {"job": name, "skipped": "another run is still going"}
    started = time.perf_counter()
    outcome, result, error = "ok", {}, None
    try:
        result = _resolve(func)(**kwargs) or {}
    except Exception as exc:
        outcome, error = "error", f"{type(exc).__name__}: {exc}"[:300]
        raise
    finally:
        lock.release()
        elapsed = time.perf_counter() - started
        PERIODIC_RUNS.labels(job=name, outcome=outcome).inc()
        PERIODIC_SECONDS.labels(job=name).observe(elapsed)
        last = {"at": container.clock(), "seconds": round(elapsed, 3), "outcome": outcome, "error": error}
        _record(container.redis, settings.key("periodic", "last", name), {**last, "result": result})
    return {"job": name, **result}


def _record(conn: redis.Redis, key: str, data: dict[str, Any]) -> None:
    try:
        conn.set(key, json.dumps(data, default=str), ex=7 * 24 * 3600)
    except redis.RedisError as exc:  # the run itself is done; its record is best effort
        log.warning("could not record periodic run %s: %s", key, type(exc).__name__)
