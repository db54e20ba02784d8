"""The intent store: per group, the active intent and high-water mark of every target, a
superseded log, and two counters.

``generation`` goes up whenever the group's desired state changes (an intent accepted, intents
cleared, the base branch moved); ``applied`` is the generation the last successful reconcile saw.
``applied < generation`` means "work to do", which makes a reconcile job that finds nothing to do
cost one Redis round trip, and lets a restarted worker find groups a crashed one left behind.

Merges are atomic: WATCH the group's hashes and record, merge in Python with the pure
``bot.core.merge``, write everything in one MULTI/EXEC, retry when another writer got in first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import redis

from bot.core.group_state import GroupState, IgnoreMark
from bot.core.intents import UpdateIntent
from bot.core.kept import Asked, replay
from bot.core.keys import TargetKey
from bot.core.merge import Mark, MergeOutcome, Superseded, merge, satisfied
from bot.settings import Settings
from bot.store.floors import FloorStore
from bot.store.groups import MAX_WATCH_RETRIES, GroupRecord, GroupStore

SUPERSEDED_KEEP = 200

_MAX_APPLIED = """
local cur = tonumber(redis.call('get', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then redis.call('set', KEYS[1], ARGV[1]) return tonumber(ARGV[1]) end
return cur
"""


#: per group (5 keys: intents, marks, record, generation, applied): the incoming targets' entries
#: of both hashes (ARGV: per group, the number of targets then the targets), record, counters.
#: Only those targets: merging never looks at the others, and a big group stays cheap to merge into.
_READ_GROUPS = """
local out = {}
local a = 1
local function entries(key, first, n)
  local found = {}
  if n == 0 then return found end
  local values = redis.call('hmget', key, unpack(ARGV, first, first + n - 1))
  for j = 1, n do
    if values[j] then
      found[#found + 1] = ARGV[first + j - 1]
      found[#found + 1] = values[j]
    end
  end
  return found
end
for i = 1, #KEYS, 5 do
  local n = tonumber(ARGV[a])
  out[#out + 1] = entries(KEYS[i], a + 1, n)
  out[#out + 1] = entries(KEYS[i + 1], a + 1, n)
  out[#out + 1] = redis.call('get', KEYS[i + 2]) or ''
  out[#out + 1] = redis.call('get', KEYS[i + 3]) or '0'
  out[#out + 1] = redis.call('get', KEYS[i + 4]) or '0'
  a = a + n + 1
end
return out
"""


def _pairs(flat: list[bytes] | dict[bytes, bytes]) -> dict[bytes, bytes]:
    if isinstance(flat, dict):
        return flat
    return dict(zip(flat[::2], flat[1::2], strict=True))


@dataclass(frozen=True, slots=True)
class Snapshot:
    active: dict[str, UpdateIntent]
    marks: dict[str, Mark]
    generation: int
    applied: int

    @property
    def dirty(self) -> bool:
        return self.applied < self.generation


def _decode_map(raw: dict[bytes, bytes], load: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    return {k.decode(): load(json.loads(v)) for k, v in raw.items()}


class IntentStore:
    def __init__(self, conn: redis.Redis, settings: Settings) -> None:
        self.conn = conn
        self.settings = settings
        self.groups = GroupStore(conn, settings)
        self.floors = FloorStore(conn, settings)
        self._max_applied = conn.register_script(_MAX_APPLIED)

    # --- keys ----------------------------------------------------------------------------------
    def _keys(self, group_key: str) -> tuple[str, str, str, str, str]:
        k = self.settings.key
        return (
            k("intents", group_key),
            k("marks", group_key),
            k("superseded", group_key),
            k("gen", group_key),
            k("applied", group_key),
        )

    # --- reads ---------------------------------------------------------------------------------
    def snapshot(self, group_key: str) -> Snapshot:
        intents_key, marks_key, _, gen_key, applied_key = self._keys(group_key)
        with self.conn.pipeline(transaction=True) as pipe:
            pipe.hgetall(intents_key).hgetall(marks_key).get(gen_key).get(applied_key)
            raw_active, raw_marks, gen, applied = pipe.execute()
        return Snapshot(
            active=_decode_map(raw_active, UpdateIntent.from_dict),
            marks=_decode_map(raw_marks, Mark.from_dict),
            generation=int(gen or 0),
            applied=int(applied or 0),
        )

    def dirty(self, group_key: str) -> bool:
        """True when the group has changes no reconcile has applied yet (one round trip)."""
        gen, applied = self.conn.mget(self._keys(group_key)[3:5])
        return int(applied or 0) < int(gen or 0)

    def superseded(self, group_key: str, limit: int = 50) -> list[dict[str, Any]]:
        """The newest entries of the superseded log, newest first."""
        return [json.loads(x) for x in self.conn.lrange(self._keys(group_key)[2], 0, limit - 1)]

    # --- writes --------------------------------------------------------------------------------
    def merge(self, intents: Sequence[UpdateIntent]) -> dict[str, MergeOutcome]:
        """Merge intents (any groups) in one atomic transaction; returns each group's outcome."""
        return self.merge_dirty(intents)[0]

    def merge_dirty(self, intents: Sequence[UpdateIntent]) -> tuple[dict[str, MergeOutcome], list[str]]:
        """Like ``merge``, and also name the touched groups left with work to do (applied <
        generation) — a group a duplicate delivery touches may still wait for its reconcile.
        Three round trips whatever the number of groups: WATCH, one scripted read, MULTI/EXEC."""
        by_group: dict[str, list[UpdateIntent]] = {}
        for intent in intents:
            by_group.setdefault(intent.group_key, []).append(intent)
        groups = sorted(by_group)
        if not groups:
            return {}, []
        keys = [k for g in groups for k in self._read_keys(g)]
        targets = {g: sorted({i.target_key for i in by_group[g]}) for g in groups}
        args = [x for g in groups for x in (len(targets[g]), *targets[g])]
        with self.conn.pipeline() as pipe:
            for _ in range(MAX_WATCH_RETRIES):
                try:
                    pipe.watch(*keys)
                    raw = pipe.eval(_READ_GROUPS, len(keys), *keys, *args)
                    outcomes: dict[str, MergeOutcome] = {}
                    dirty = []
                    for n, group_key in enumerate(groups):
                        active, marks, record, gen, applied = raw[5 * n : 5 * n + 5]
                        outcome = merge(
                            _decode_map(_pairs(active), UpdateIntent.from_dict),
                            _decode_map(_pairs(marks), Mark.from_dict),
                            by_group[group_key],
                            GroupRecord.from_json(group_key, record or None).state,
                        )
                        outcomes[group_key] = outcome
                        if int(applied or 0) < int(gen or 0) + (1 if outcome.active else 0):
                            dirty.append(group_key)
                    pipe.multi()
                    for group_key, outcome in outcomes.items():
                        self._write_outcome(pipe, group_key, outcome)
                    pipe.execute()
                    return outcomes, dirty
                except redis.WatchError:
                    continue
        raise RuntimeError(f"groups {groups}: too much contention merging intents")

    def _read_keys(self, group_key: str) -> list[str]:
        intents_key, marks_key, _, gen_key, applied_key = self._keys(group_key)
        return [intents_key, marks_key, self.groups.record_key(group_key), gen_key, applied_key]

    def _write_outcome(self, pipe: redis.client.Pipeline, group_key: str, outcome: MergeOutcome) -> None:
        intents_key, marks_key, sup_key, gen_key, _ = self._keys(group_key)
        self.groups.register(group_key, pipe)
        if outcome.active:
            pipe.hset(intents_key, mapping={t: json.dumps(i.to_dict()) for t, i in outcome.active.items()})
            pipe.incr(gen_key)
        if outcome.marks:
            pipe.hset(marks_key, mapping={t: json.dumps(m.to_dict()) for t, m in outcome.marks.items()})
        if outcome.superseded:
            pipe.lpush(sup_key, *(json.dumps(s.to_dict()) for s in outcome.superseded))
            pipe.ltrim(sup_key, 0, SUPERSEDED_KEEP - 1)

    def supersede(self, group_key: str, lost: Sequence[tuple[UpdateIntent, Superseded]]) -> list[str]:
        """Drop active intents a reconcile found below what their references already have
        (``bot.core.floors``), each only while it is still the target's active intent, and log
        why in the superseded log (a delivery's outcome reads it); the dropped targets."""
        if not lost:
            return []
        intents_key, _, sup_key, _, _ = self._keys(group_key)
        targets = [intent.target_key for intent, _ in lost]
        with self.conn.pipeline() as pipe:
            for _ in range(MAX_WATCH_RETRIES):
                try:
                    pipe.watch(intents_key)
                    now = pipe.hmget(intents_key, targets)
                    gone = [
                        (intent, record)
                        for (intent, record), raw in zip(lost, now, strict=True)
                        if raw is not None and _same_version(UpdateIntent.from_dict(json.loads(raw)), intent)
                    ]
                    pipe.multi()
                    if gone:
                        pipe.hdel(intents_key, *(i.target_key for i, _ in gone))
                        pipe.lpush(sup_key, *(json.dumps(r.to_dict()) for _, r in gone))
                        pipe.ltrim(sup_key, 0, SUPERSEDED_KEEP - 1)
                    pipe.execute()
                    return [i.target_key for i, _ in gone]
                except redis.WatchError:
                    continue
        raise RuntimeError(f"group {group_key}: too much contention superseding intents")

    def restore(self, group_key: str, asked: Sequence[Asked], state: GroupState) -> int:
        """Put back the chat-ops intents a PR marker kept (``bot.core.kept.replay``: what arrived
        since Redis forgot them still wins where it would have) and bump the generation, so the
        group is reconciled with what was restored; the new generation."""
        intents_key, marks_key, _, gen_key, _ = self._keys(group_key)
        targets = sorted({a.intent.target_key for a in asked})
        with self.conn.pipeline() as pipe:
            for _ in range(MAX_WATCH_RETRIES):
                try:
                    pipe.watch(intents_key, marks_key)
                    raw = pipe.hmget(intents_key, targets) if targets else []
                    now = {
                        t: UpdateIntent.from_dict(json.loads(v))
                        for t, v in zip(targets, raw, strict=True)
                        if v
                    }
                    active, marks = replay(asked, now, state)
                    pipe.multi()
                    self.groups.register(group_key, pipe)
                    if active:
                        pipe.hset(
                            intents_key, mapping={t: json.dumps(i.to_dict()) for t, i in active.items()}
                        )
                    if marks:
                        pipe.hset(marks_key, mapping={t: json.dumps(m.to_dict()) for t, m in marks.items()})
                    pipe.incr(gen_key)
                    return int(pipe.execute()[-1])
                except redis.WatchError:
                    continue
        raise RuntimeError(f"group {group_key}: too much contention restoring its intents")

    def bump(self, group_key: str) -> int:
        """Mark the group as needing a reconcile (e.g. its base branch moved)."""
        with self.conn.pipeline(transaction=True) as pipe:
            self.groups.register(group_key, pipe)
            pipe.incr(self._keys(group_key)[3])
            return int(pipe.execute()[-1])

    def mark_applied(self, group_key: str, generation: int) -> int:
        """Record that a reconcile brought the repo to ``generation`` (never moves backwards)."""
        return int(self._max_applied(keys=[self._keys(group_key)[4]], args=[generation]))

    def clear(
        self,
        group_key: str,
        applied: dict[str, Mark],
        *,
        ignore: bool = False,
        merged: bool = False,
    ) -> list[str]:
        """Drop active intents at or below ``applied`` (a merged PR satisfied them, or a person
        closed the PR: then ``ignore`` also records those versions as ignored). A ``merged`` PR's
        versions landed: the marks of the references its branch wrote rise to them first
        (``bot.store.floors``); a PR closed unmerged lands nothing. Bumps the generation when
        anything changed; returns the cleared targets."""
        if merged:
            self.floors.land(group_key)
        else:
            self.floors.hold(group_key, {})
        intents_key, _, _, gen_key, _ = self._keys(group_key)
        record_key = self.groups.record_key(group_key)
        with self.conn.pipeline() as pipe:
            for _ in range(MAX_WATCH_RETRIES):
                try:
                    pipe.watch(intents_key, record_key)
                    active = _decode_map(pipe.hgetall(intents_key), UpdateIntent.from_dict)
                    record = GroupRecord.from_json(group_key, pipe.get(record_key))
                    done = satisfied(active, applied)
                    pipe.multi()
                    if done:
                        pipe.hdel(intents_key, *done)
                        pipe.incr(gen_key)
                    if ignore:
                        pipe.set(record_key, _with_ignored(record, applied).to_json())
                    pipe.execute()
                    return done
                except redis.WatchError:
                    continue
        raise RuntimeError(f"group {group_key}: too much contention clearing intents")


def _same_version(a: UpdateIntent, b: UpdateIntent) -> bool:
    """The same version of a target (where it searches follows the config now: not compared)."""
    return (a.tag, a.digest, a.ordering_key, a.rollback) == (b.tag, b.digest, b.ordering_key, b.rollback)


def _with_ignored(record: GroupRecord, applied: dict[str, Mark]) -> GroupRecord:
    """Ignore each applied version (and below) for its image until a newer one arrives."""
    images = {TargetKey.parse(t).image for t in applied}
    marks = [m for m in record.state.ignored if m.image not in images]
    for target, mark in sorted(applied.items()):
        label = f"{mark.tag or mark.digest} (PR closed without merging)"
        marks.append(IgnoreMark(TargetKey.parse(target).image, tuple(mark.key), mark.scheme, label))
    return replace(record, state=replace(record.state, ignored=tuple(marks)))
