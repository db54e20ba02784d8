"""The periodic task job: ``run_task(name)``, queued by the leader when the task is due.

The tasks are the composition root's ``periodic_tasks`` (``bot.jobs.leader.Task``: name, dotted
function, interval). A run holds ``<prefix>:periodic:running:<name>`` (a heartbeated lock that
dies with its holder, ``bot.store.locks``), so a slow run is never overtaken by the next slot's;
a run that finds it held ends at once as ``skipped``. Every run records its outcome, duration and
the function's result (a dict of counts) in ``<prefix>:periodic:last:<name>`` (the status page
shows it) and in the metrics ``manifest_bot_periodic_runs_total{job,outcome}`` and
``manifest_bot_periodic_seconds{job}``.

Adding a periodic task (docs/operations.md, "Periodic jobs"): a module-level function taking no
arguments, doing a bounded amount of work and returning a dict of counts, named in
``Container.periodic_tasks`` (``bot/deps.py``).
"""

from __future__ import annotations

import importlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis

from bot.jobs import runtime
from bot.jobs.leader import Task
from bot.metrics import PERIODIC_RUNS, PERIODIC_SECONDS
from bot.settings import Settings
from bot.store.locks import RepoLock

log = logging.getLogger(__name__)

#: what a run records is kept this long
LAST_RUN_TTL_S = 7 * 24 * 3600


def _resolve(path: str) -> Callable[[], dict[str, Any]]:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def run_task(name: str) -> dict[str, Any]:
    container = runtime.current()
    container.config_reloads.refresh()
    task = next((t for t in container.periodic_tasks() if t.name == name), None)
    if task is None:
        return {"job": name, "skipped": "no such periodic task"}
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
        result = _resolve(task.func)() or {}
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


def last_runs(conn: redis.Redis, settings: Settings, tasks: Sequence[Task]) -> dict[str, dict[str, Any]]:
    """name → what its last run recorded (for the status page)."""
    out = {}
    for task in tasks:
        raw = conn.get(settings.key("periodic", "last", task.name))
        if raw is not None:
            out[task.name] = json.loads(raw)
    return out


def _record(conn: redis.Redis, key: str, data: dict[str, Any]) -> None:
    try:
        conn.set(key, json.dumps(data, default=str), ex=LAST_RUN_TTL_S)
    except redis.RedisError as exc:  # the run itself is done; its record is best effort
        log.warning("could not record periodic run %s: %s", key, type(exc).__name__)
