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

    from bot.core.config.model import Config
    from bot.core.ports import Forge
    from bot.services.reconcile import ReconcileDeps
    from bot.store.deliveries import DeliveryStore
    from bot.store.intents import IntentStore


@dataclass
class Container:
    settings: Settings
    #: injected clock (seconds since the epoch); tests replace it
    clock: Callable[[], float] = field(default=time.time)
    #: forge clients by config name; filled on first use from the routing config (tests may preset)
    forges: dict[str, Forge] = field(default_factory=dict)
    #: wraps every forge built here (benchmarks count calls, fault tests inject errors)
    forge_wrapper: Callable[[Forge], Forge] | None = None

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

    # --- reconcile (issue 6): config, forges, stores ------------------------------------------
    @cached_property
    def config(self) -> Config:
        """The routing config from ``settings.config_path`` (loaded once per process)."""
        from bot.core.config.loader import load_config
        from bot.errors import ConfigError

        path = self.settings.config_path
        if path is None:
            raise ConfigError("no routing config: set MANIFEST_BOT_CONFIG_PATH")
        return load_config(path.read_text(encoding="utf-8"), str(path))

    def forge(self, name: str) -> Forge:
        """The forge client the config names ``name`` (built once, through the forge factory)."""
        if name not in self.forges:
            from bot.forges.factory import build_forge
            from bot.services.config_source import forge_options

            cfg = self.config.forge(name)
            built = build_forge(name, cfg.kind, self.settings, **forge_options(cfg, self.settings))
            self.forges[name] = self.forge_wrapper(built) if self.forge_wrapper else built
        return self.forges[name]

    @cached_property
    def deliveries(self) -> DeliveryStore:
        from bot.store.deliveries import DeliveryStore

        return DeliveryStore(self.redis, self.settings, self.clock)

    @cached_property
    def intents(self) -> IntentStore:
        from bot.store.intents import IntentStore

        return IntentStore(self.redis, self.settings)

    @cached_property
    def reconcile_deps(self) -> ReconcileDeps:
        from bot.services.reconcile import ReconcileDeps

        return ReconcileDeps(self.settings, self.redis, self.forge)


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
