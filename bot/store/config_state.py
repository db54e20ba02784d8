"""The routing config the workers run with, as Redis remembers it for the status page.

One hash per deployment (``<prefix>:config``): the digest and time of the config in use and, while
the newest file is refused, that file's digest, time and problems. ``claim`` tells the one process
that first runs with a new config that the groups need a reconcile (every other process that
reloads the same file finds it claimed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import redis

from bot.settings import Settings

#: problems kept for the page (a file can hold many; the log has them all)
MAX_PROBLEMS = 50


@dataclass(frozen=True, slots=True)
class ConfigStatus:
    path: str = ""
    digest: str = ""  # sha256 of the config in use ("" when no worker recorded one)
    loaded_at: float | None = None
    refused_digest: str = ""
    refused_at: float | None = None
    problems: tuple[str, ...] = ()  # why the newest file was refused (() when it was not)

    @property
    def refused(self) -> bool:
        return bool(self.problems)


class ConfigStateStore:
    def __init__(self, conn: redis.Redis, settings: Settings) -> None:
        self.conn = conn
        self.key = settings.key("config")
        self.claim_key = settings.key("config", "active")

    def claim(self, digest: str) -> str | None:
        """Say this process runs with ``digest``; the digest recorded before (None: none was).
        Exactly one process sees the old digest for each change."""
        old = self.conn.set(self.claim_key, digest, get=True)
        return old.decode() if isinstance(old, bytes) else old

    def loaded(self, path: str, digest: str, at: float) -> None:
        with self.conn.pipeline(transaction=True) as pipe:
            pipe.hset(self.key, mapping={"path": path, "digest": digest, "loaded_at": repr(at)})
            pipe.hdel(self.key, "refused_digest", "refused_at", "problems")
            pipe.execute()

    def refusal_over(self) -> None:
        """The file is the config in use again: no refusal to show."""
        self.conn.hdel(self.key, "refused_digest", "refused_at", "problems")

    def refused(self, path: str, digest: str, problems: tuple[str, ...], at: float) -> None:
        mapping = {
            "path": path,
            "refused_digest": digest,
            "refused_at": repr(at),
            "problems": json.dumps(list(problems[:MAX_PROBLEMS])),
        }
        self.conn.hset(self.key, mapping=mapping)

    def get(self) -> ConfigStatus:
        raw = {k.decode(): v.decode() for k, v in self.conn.hgetall(self.key).items()}
        return ConfigStatus(
            path=raw.get("path", ""),
            digest=raw.get("digest", ""),
            loaded_at=float(raw["loaded_at"]) if "loaded_at" in raw else None,
            refused_digest=raw.get("refused_digest", ""),
            refused_at=float(raw["refused_at"]) if "refused_at" in raw else None,
            problems=tuple(json.loads(raw.get("problems", "[]"))),
        )
