"""Which images are polled, and when: the routing config's ``poll`` rules on one sorted set.

The periodic leader (``bot.jobs.leader``) asks ``take`` at every tick for the images whose poll is
due; the first tick with a config object it has not followed yet (a process's first, or the first
after a reload) makes the schedule follow that config first. The sweep calls ``sync`` too, so a
schedule Redis lost comes back within one sweep. An idle tick costs one Redis command here, none
when the config polls nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.core.config.model import Config
from bot.store.polls import PollStore, Synced

log = logging.getLogger(__name__)


def poll_intervals(config: Config, every_s: float | None = None) -> dict[str, float]:
    """Polled image (canonical) → seconds between its polls; ``every_s`` replaces every rule's own
    (``MANIFEST_BOT_POLL_INTERVAL_S``: tests, the demo)."""
    return {image: every_s or own for image, own in config.poll_intervals().items()}


class PollSchedule:
    def __init__(
        self,
        store: PollStore,
        config: Callable[[], Config | None],
        *,
        every_s: float | None = None,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self._config = config
        self.every_s = every_s
        self.clock = clock
        self._followed: Config | None = None
        self._polls_any = False  # the config followed polls at least one image

    def sync(self) -> Synced | None:
        """Make the schedule follow the config in use (None: there is no config, nothing changed)."""
        config = self._config()
        return self._follow(config, self.clock()) if config is not None else None

    def take(self, now: float, limit: int) -> list[str]:
        """The images whose poll is due at ``now``, each set to its next poll."""
        config = self._config()
        if config is None:
            return []
        if config is not self._followed:
            self._follow(config, now)
        return self.store.take_due(now, limit) if self._polls_any else []

    def _follow(self, config: Config, now: float) -> Synced:
        synced = self.store.sync(poll_intervals(config, self.every_s), now)
        self._followed, self._polls_any = config, synced.total > 0
        if synced.added or synced.removed or synced.changed:
            log.info(
                "poll schedule: %d images (%d added, %d dropped, %d intervals changed)",
                synced.total,
                synced.added,
                synced.removed,
                synced.changed,
            )
        return synced
