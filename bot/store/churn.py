"""A group's PR churn allowance: how many chat-ops comments that may open or close its PR
(``pin``/``unpin``, ``close``/``reopen``, ``ignore``/``unignore``, ``rollback``, ``recreate``)
run per hour. Folding bounds one comment; this bounds many: a person (or a script under their
account) posting comment after comment cannot make the bot open and close PRs without end.

One counter per group, ``<prefix>:churn:<group_key>``, counted up with ``INCR`` and expiring
``CHURN_WINDOW_S`` after the first comment of its window (a fixed window: one round trip, no
clock of ours). Lost with Redis, it starts again: the bound is on work, not a record.
"""

from __future__ import annotations

import redis

from bot.settings import Settings

#: comments that may open or close one group's PR, per window
MAX_CHURN_COMMENTS = 10
CHURN_WINDOW_S = 3600


class ChurnLimit:
    def __init__(self, conn: redis.Redis, settings: Settings, limit: int = MAX_CHURN_COMMENTS) -> None:
        self._redis = conn
        self._settings = settings
        self.limit = limit

    def take(self, group_key: str) -> bool:
        """One comment's worth of the group's allowance; False when the window's is used up."""
        key = self._settings.key("churn", group_key)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, CHURN_WINDOW_S, nx=True)
            count, _ = pipe.execute()
        return int(count) <= self.limit
