"""Deployments in Redis, per environment: the bot's merged PRs waiting to be seen deployed, what
each PR was told, and the environment's last reported state.

- ``deploy:merged:<env>`` (hash, PR ref → ``MergedPr`` JSON): a bot PR of the environment merged;
  the newest ``MAX_MERGED`` are kept (older ones are settled or never will be).
- ``deploy:told:<env>`` (hash, PR ref → ``{revision, health, at}``): what the PR's comment said.
  ``tell`` is a compare-and-set under WATCH, so two workers handling the same report (or a
  redelivery) post one comment, and an older report never overwrites a newer one.
- ``deploy:env:<env>`` (JSON ``EnvState``): what the environment runs, moved only forward.

A PR ref is ``<group key>#<number>``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass

import redis

from bot.core.deployments import EnvState
from bot.settings import Settings

#: merged PRs kept per environment (the newest)
MAX_MERGED = 50
MAX_WATCH_RETRIES = 50


@dataclass(frozen=True, slots=True)
class MergedPr:
    group: str  # group key
    forge: str
    repo: str
    number: int
    merge_sha: str
    merged_at: float
    url: str | None = None
    versions: tuple[str, ...] = ()  # ``image:tag`` / ``image@digest`` the PR applied

    @property
    def ref(self) -> str:
        return f"{self.group}#{self.number}"

    def to_json(self) -> str:
        data = asdict(self)
        data["versions"] = list(self.versions)
        return json.dumps(data)

    @classmethod
    def from_json(cls, raw: bytes | str) -> MergedPr:
        data = json.loads(raw)
        data["versions"] = tuple(data.get("versions", ()))
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Told:
    revision: str | None
    health: str
    at: str


class DeploymentStore:
    def __init__(self, conn: redis.Redis, settings: Settings) -> None:
        self.conn = conn
        self.settings = settings

    def _key(self, what: str, environment: str) -> str:
        return self.settings.key("deploy", what, environment)

    # --- merged PRs ------------------------------------------------------------------------------
    def merged(self, environment: str, pr: MergedPr) -> None:
        key = self._key("merged", environment)
        self.conn.hset(key, pr.ref, pr.to_json())
        if self.conn.hlen(key) > MAX_MERGED:
            found = sorted(self.merged_prs(environment), key=lambda p: p.merged_at)
            self.conn.hdel(key, *[p.ref for p in found[: len(found) - MAX_MERGED]])

    def merged_prs(self, environment: str) -> list[MergedPr]:
        """Newest first."""
        raw = self.conn.hgetall(self._key("merged", environment))
        return sorted((MergedPr.from_json(v) for v in raw.values()), key=lambda p: -p.merged_at)

    # --- what PRs were told ----------------------------------------------------------------------
    def told(self, environment: str) -> dict[str, Told]:
        raw = self.conn.hgetall(self._key("told", environment))
        return {k.decode(): Told(**json.loads(v)) for k, v in raw.items()}

    def tell(self, environment: str, ref: str, told: Told, should: Callable[[Told | None], bool]) -> bool:
        """Record ``told`` for PR ``ref`` when ``should(what it was told before)``; True when
        recorded (the caller tells the PR). ``forget`` undoes it when telling fails."""
        key = self._key("told", environment)
        return self._swap(key, ref, lambda old: json.dumps(asdict(told)) if should(old) else None)

    def forget(self, environment: str, ref: str, previous: Told | None) -> None:
        key = self._key("told", environment)
        if previous is None:
            self.conn.hdel(key, ref)
        else:
            self.conn.hset(key, ref, json.dumps(asdict(previous)))

    def _swap(self, key: str, field: str, change: Callable[[Told | None], str | None]) -> bool:
        with self.conn.pipeline() as pipe:
            for _ in range(MAX_WATCH_RETRIES):
                try:
                    pipe.watch(key)
                    raw = pipe.hget(key, field)
                    new = change(Told(**json.loads(raw)) if raw else None)
                    if new is None:
                        pipe.unwatch()
                        return False
                    pipe.multi()
                    pipe.hset(key, field, new)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue
        raise redis.WatchError(f"{key}: too many concurrent writers")

    # --- the environment's state -----------------------------------------------------------------
    def state(self, environment: str) -> EnvState | None:
        raw = self.conn.get(self._key("env", environment))
        return EnvState.from_dict(json.loads(raw)) if raw else None

    def states(self, environments: list[str]) -> dict[str, EnvState]:
        if not environments:
            return {}
        raws = self.conn.mget([self._key("env", e) for e in environments])
        return {e: EnvState.from_dict(json.loads(r)) for e, r in zip(environments, raws, strict=True) if r}

    def update_state(
        self, environment: str, change: Callable[[EnvState | None], EnvState | None]
    ) -> EnvState | None:
        """Compare-and-set the environment's state; returns the new one (None: unchanged)."""
        key = self._key("env", environment)
        with self.conn.pipeline() as pipe:
            for _ in range(MAX_WATCH_RETRIES):
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    new = change(EnvState.from_dict(json.loads(raw)) if raw else None)
                    if new is None:
                        pipe.unwatch()
                        return None
                    pipe.multi()
                    pipe.set(key, json.dumps(new.to_dict()))
                    pipe.execute()
                    return new
                except redis.WatchError:
                    continue
        raise redis.WatchError(f"{key}: too many concurrent writers")
