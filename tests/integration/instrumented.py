"""A forge wrapper for worker processes (``manifest-bot worker --wrap-forge
tests.integration.instrumented:wrap``), configured by the ``MB_TEST_WRAP`` JSON env variable:

``{"redis_url": ..., "key": ..., "latency_ms": 50, "faults": {"commit_files": {"3": "Conflict"}}}``

It adds latency to every call, counts calls per method in Redis (hash ``<key>:calls``, shared by
every worker), logs each write with its time (list ``<key>:writes``: branch and the tags it
writes), and raises the named error on the N-th call of a method counted across all workers
(``"SIGKILL"``: the worker process kills itself there, holding whatever work it took).
Optional extras (``read_files``, ``changed_files``, ``observe``) are forwarded only when the inner
forge has them, and each is one call: a batched ``read_files`` counts once and sleeps once.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from typing import Any

import redis

from bot.core.ports import Forge
from bot.errors import Conflict, RateLimited, Transient

WRITES = frozenset(
    {
        "commit_files",
        "set_branch",
        "delete_branch",
        "open_pr",
        "update_pr",
        "close_pr",
        "reopen_pr",
        "merge_pr",
        "enable_auto_merge",
        "disable_auto_merge",
        "comment",
        "react",
    }
)
_TAG = re.compile(rb"image: \S+:(\S+)")
_PATH = re.compile(r"envs/(\w+)/app(\d+)\.yaml")


def _error(name: str) -> Exception:
    if name == "Conflict":
        return Conflict("injected: the branch moved")
    if name == "RateLimited":
        return RateLimited("injected: secondary rate limit", retry_after=1)
    return Transient("injected: 502 Bad Gateway")


class Instrumented:
    def __init__(self, inner: Forge, conf: dict[str, Any]) -> None:
        self.inner = inner
        self.info = inner.info
        self.conn = redis.Redis.from_url(conf["redis_url"])
        self.key = conf["key"]
        self.latency = conf.get("latency_ms", 0) / 1000
        self.faults: dict[str, dict[str, str]] = conf.get("faults", {})

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            n = self.conn.hincrby(f"{self.key}:calls", name, 1)
            if self.latency:
                time.sleep(self.latency)  # simulated network round trip to the forge
            fault = self.faults.get(name, {}).get(str(n))
            if fault:
                self.conn.rpush(f"{self.key}:faults", f"{name}#{n}:{fault}")
                if fault == "SIGKILL":
                    os.kill(os.getpid(), signal.SIGKILL)
                raise _error(fault)
            result = target(*args, **kwargs)
            if name in WRITES:
                self.conn.hincrby(f"{self.key}:calls", "_writes", 1)
            if name == "commit_files":
                self._log_commit(args, kwargs)
            return result

        return call

    def _log_commit(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        tags = {}
        for change in kwargs.get("changes", ()):
            m, t = _PATH.search(change.path), _TAG.search(change.content or b"")
            if m and t:
                tags[f"{m.group(1)}/{int(m.group(2))}"] = t.group(1).decode()
        branch = args[1] if len(args) > 1 else kwargs.get("branch")
        self.conn.rpush(f"{self.key}:writes", json.dumps({"t": time.time(), "branch": branch, "tags": tags}))


def wrap(forge: Forge) -> Forge:
    conf = json.loads(os.environ["MB_TEST_WRAP"])
    return Instrumented(forge, conf)  # type: ignore[return-value]
