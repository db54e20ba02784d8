"""The marks of references versions landed at (``bot.core.floors``), per manifest repo and base
branch: ``floors:<forge>:<repo>:<branch>``, a hash of file → its references' marks (the highest
version any rule's intent landed at each). A reconcile reads the files its intents reach (one
HMGET). What a group's open PR wrote per reference waits in ``floors-held:<group>`` (reference →
mark; replaced by each sync that writes the branch) and lands when the PR merges
(``IntentStore.clear(merged=True)``); a push to the base branch lands at once. Raising reads,
then writes: the callers hold the repo's lock or handle the one event that merged the PR, so two
raises of one file do not interleave; and a mark only ever rises.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence

import redis

from bot.core.floors import Floor, Ref, Spot, decode_file, encode_file, parse_ref_key, raised, ref_key
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

    def _held_key(self, group_key: str) -> str:
        return self.settings.key("floors-held", group_key)

    def hold(self, group_key: str, written: Mapping[Ref, Floor]) -> None:
        """What the group's open PR's branch now holds per reference (replacing what it held; {}:
        no open PR). One round trip."""
        key = self._held_key(group_key)
        with self.conn.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if written:
                pipe.hset(key, mapping={ref_key(r): json.dumps(f.to_dict()) for r, f in written.items()})
            pipe.execute()

    def held(self, group_key: str) -> dict[Ref, Floor]:
        raw = self.conn.hgetall(self._held_key(group_key))
        return {parse_ref_key(k.decode()): Floor.from_dict(json.loads(v)) for k, v in raw.items()}

    def land(self, group_key: str) -> int:
        """The group's PR merged: the marks rise to what its branch held; how many rose."""
        rose = self.raise_(group_key, self.held(group_key))
        self.conn.delete(self._held_key(group_key))
        return rose

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
