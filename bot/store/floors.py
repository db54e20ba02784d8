"""The marks of references versions landed at (``bot.core.floors``), per manifest repo and base
branch: ``floors:<forge>:<repo>:<branch>``, a hash of file → its references' marks (the highest
version any rule's intent landed at each). A reconcile reads the files its intents reach (one
HMGET); a merged PR (``IntentStore.clear`` with what its branch wrote) or a push raises them.
Raising reads, then writes: the callers hold the repo's lock or handle the one event that
merged the PR, so two raises of one file do not interleave; and a mark only ever rises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import redis

from bot.core.floors import Floor, Ref, Spot, decode_file, encode_file, raised
from bot.core.keys import GroupKey
from bot.settings import Settings


class FloorStore:
    def __init__(self, conn: redis.Redis, settings: Settings) -> None:
        self.conn = conn
        self.settings = settings

    def _key(self, group_key: str) -> str:
        key = GroupKey.parse(group_key)
        return self.settings.key("floors", key.forge, key.repo, key.base)

    def reader(self, group_key: str) -> Callable[[Sequence[str]], dict[str, dict[Spot, Floor]]]:
        """The marks of files of the group's repo and base branch, by file (what desired reads)."""
        key = self._key(group_key)

        def read(files: Sequence[str]) -> dict[str, dict[Spot, Floor]]:
            wanted = sorted(set(files))
            if not wanted:
                return {}
            raw = self.conn.hmget(key, wanted)
            return {f: decode_file(v) for f, v in zip(wanted, raw, strict=True) if v}

        return read

    def raise_(self, group_key: str, landed: Mapping[Ref, Floor]) -> int:
        """Raise the marks of the references ``landed`` names to the versions that landed there
        (a merged PR's, a push's); how many rose (two round trips, none when nothing landed)."""
        if not landed:
            return 0
        by_file: dict[str, dict[Spot, Floor]] = {}
        for (file, doc, path), new in landed.items():
            by_file.setdefault(file, {})[(doc, path)] = new
        now = self.reader(group_key)(list(by_file))
        changed: dict[str, str] = {}
        rose = 0
        for file, spots in by_file.items():
            floors = dict(now.get(file, {}))
            for spot, new in spots.items():
                floor = raised(floors.get(spot), new)
                if floor is not None:
                    floors[spot] = floor
                    rose += 1
            if floors != now.get(file, {}):
                changed[file] = encode_file(floors)
        if changed:
            self.conn.hset(self._key(group_key), mapping=changed)
        return rose
