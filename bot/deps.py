"""The composition root: builds Redis, queues and forge clients from settings.

Nothing here runs at import time. The web app builds one Container in ``create_app``; a worker
process builds one at start-up and installs it with ``install`` so rq job functions (module-level,
primitive arguments) reach it through ``current()``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import redis
from rq import Queue

from bot.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass
class Container:
    settings: Settings
    #: injected clock (seconds since the epoch); tests replace it
    clock: Callable[[], float] = field(default=time.time)

    @cached_property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(
            self.settings.redis_url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
        )

    def queue(self, name: str) -> Queue:
        """An rq queue in our namespace: ``events``, ``reconcile`` or ``commands``."""
        return Queue(
            self.settings.queue(name), connection=self.redis, default_timeout=self.settings.job_timeout_s
        )


_current: Container | None = None


def install(container: Container | None) -> None:
    """Make ``container`` the one rq jobs in this process use (None uninstalls)."""
    global _current  # noqa: PLW0603 - the single process-wide handle rq job functions need
    _current = container


def current() -> Container:
    """The installed container, or one built from the environment on first use."""
    global _current  # noqa: PLW0603
    if _current is None:
        _current = Container(Settings.from_env())
    return _current
