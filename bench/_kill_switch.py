"""A forge wrapper for ``bench/recovery.py`` (``manifest-bot worker --wrap-forge
bench._kill_switch:wrap``), configured by the ``MB_KILL_SWITCH`` JSON env variable
(``{"redis_url": ..., "key": ...}``).

Before each call of a forge method it takes the switch ``<key>:<method>`` (``GETDEL``): when the
bench armed it, the worker records the time in ``<key>:killed`` and SIGKILLs itself there,
holding whatever it took (the repo lock, the started rq job, acknowledged deliveries).
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import redis

from bot.core.ports import Forge


class KillSwitch:
    def __init__(self, inner: Forge, conf: dict[str, Any]) -> None:
        self.inner = inner
        self.info = inner.info
        self.conn = redis.Redis.from_url(conf["redis_url"])
        self.key = conf["key"]

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.conn.getdel(f"{self.key}:{name}") is not None:
                self.conn.rpush(f"{self.key}:killed", json.dumps({"t": time.time(), "at": name}))
                os.kill(os.getpid(), signal.SIGKILL)
            return target(*args, **kwargs)

        return call


def wrap(forge: Forge) -> Forge:
    return KillSwitch(forge, json.loads(os.environ["MB_KILL_SWITCH"]))  # type: ignore[return-value]
