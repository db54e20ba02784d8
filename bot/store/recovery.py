"""What the webhook recovery and the resync remember between runs (Redis).

GitHub App deliveries, per forge (``<prefix>:recovery:github:<forge>:…``):

- ``scan``: JSON ``{"mark", "cursor", "newest"}``: every delivery with an id up to ``mark`` was
  looked at; a scan cut short by its page budget resumes at ``cursor`` and, once it reaches
  ``mark``, moves ``mark`` to ``newest`` (the newest id it saw when it started);
- ``todo``: sorted set guid → the id of its latest failed delivery, waiting for a redelivery
  (bounded: the oldest are dropped past ``TODO_MAX``);
- ``asked:<guid>``: how many redeliveries of that event were asked for (expires with the window);
- ``last``: the last run's counts (status page).

GitLab hooks: hash ``<prefix>:webhook-health:gitlab`` field ``<forge>|<project>`` → JSON
``{"state", "detail", "checked_at"}``; ``<prefix>:recovery:gitlab:<forge>:cursor`` the last
project checked. Cursors of bounded passes over a list (``cursor(name)``): the last item done.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import redis

from bot.settings import Settings

TODO_MAX = 1000
HEALTH_TTL_S = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class ScanState:
    mark: int | None = None
    cursor: str | None = None
    newest: int | None = None


@dataclass(frozen=True, slots=True)
class HookHealth:
    forge: str
    project: str
    state: str  # ok | failing | disabled | missing | unknown
    detail: str
    checked_at: float

    @property
    def healthy(self) -> bool | None:
        """True/False when the hook's state is known, None when it could not be read."""
        return {"ok": True, "failing": False, "disabled": False, "missing": False}.get(self.state)


class RecoveryStore:
    def __init__(self, conn: redis.Redis, settings: Settings) -> None:
        self.conn = conn
        self.settings = settings

    def _gh(self, forge: str, *parts: str) -> str:
        return self.settings.key("recovery", "github", forge, *parts)

    # --- GitHub App deliveries ---------------------------------------------------------------
    def scan_state(self, forge: str) -> ScanState:
        raw = self.conn.get(self._gh(forge, "scan"))
        return ScanState(**json.loads(raw)) if raw else ScanState()

    def save_scan(self, forge: str, state: ScanState) -> None:
        self.conn.set(self._gh(forge, "scan"), json.dumps(asdict(state)))

    def add_todo(self, forge: str, failed: dict[str, int]) -> None:
        """Queue events (guid → id of its latest failed delivery) for a redelivery."""
        if not failed:
            return
        key = self._gh(forge, "todo")
        with self.conn.pipeline() as pipe:
            pipe.zadd(key, failed, gt=True)
            pipe.zremrangebyrank(key, 0, -(TODO_MAX + 1))
            pipe.execute()

    def drop_todo(self, forge: str, guids: list[str]) -> None:
        if guids:
            self.conn.zrem(self._gh(forge, "todo"), *guids)

    def todo(self, forge: str, limit: int) -> list[tuple[str, int]]:
        """The oldest ``limit`` events waiting for a redelivery: (guid, delivery id)."""
        found = self.conn.zrange(self._gh(forge, "todo"), 0, max(limit, 1) - 1, withscores=True)
        return [(g.decode(), int(score)) for g, score in found]

    def asked(self, forge: str, guid: str) -> int:
        return int(self.conn.get(self._gh(forge, "asked", guid)) or 0)

    def count_ask(self, forge: str, guid: str, ttl_s: int) -> int:
        key = self._gh(forge, "asked", guid)
        with self.conn.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, max(ttl_s, 60))
            return int(pipe.execute()[0])

    def save_last(self, forge: str, result: dict[str, Any]) -> None:
        self.conn.set(self._gh(forge, "last"), json.dumps(result), ex=HEALTH_TTL_S)

    def github_runs(self) -> dict[str, dict[str, Any]]:
        """forge → its last recovery run (status page)."""
        out = {}
        pattern = self.settings.key("recovery", "github", "*", "last")
        for key in sorted(self.conn.scan_iter(match=pattern, count=200)):
            raw = self.conn.get(key)
            if raw:
                out[key.decode().split(":")[-2]] = json.loads(raw)
        return out

    # --- GitLab project hooks ----------------------------------------------------------------
    def _health_key(self) -> str:
        return self.settings.key("webhook-health", "gitlab")

    def save_health(self, health: HookHealth) -> None:
        with self.conn.pipeline() as pipe:
            pipe.hset(self._health_key(), f"{health.forge}|{health.project}", json.dumps(asdict(health)))
            pipe.expire(self._health_key(), HEALTH_TTL_S)
            pipe.execute()

    def gitlab_health(self) -> list[HookHealth]:
        rows = [HookHealth(**json.loads(v)) for v in self.conn.hvals(self._health_key())]
        return sorted(rows, key=lambda h: (h.forge, h.project))

    # --- cursors of bounded passes -------------------------------------------------------------
    def cursor(self, name: str) -> str | None:
        raw = self.conn.get(self.settings.key("cursor", name))
        return raw.decode() if raw is not None else None

    def set_cursor(self, name: str, value: str | None) -> None:
        key = self.settings.key("cursor", name)
        if value is None:
            self.conn.delete(key)
        else:
            self.conn.set(key, value)


def next_batch(items: list[str], after: str | None, limit: int) -> list[str]:
    """Up to ``limit`` of the sorted ``items`` following ``after``, wrapping round once."""
    ordered = sorted(items)
    start = 0 if after is None else next((i for i, x in enumerate(ordered) if x > after), len(ordered))
    rotated = ordered[start:] + ordered[:start]
    return rotated[:limit]
