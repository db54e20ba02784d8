"""Rebuilding a group in Redis (real Redis): a record is adopted only while Redis does not know the
group (an error note written meanwhile does not count, and is kept), and the chat-ops intents a
marker kept go back as if Redis had never forgotten them."""

from __future__ import annotations

from dataclasses import replace

import redis

from bot.core.group_state import GroupState, Pin
from bot.core.kept import Asked, Ran
from bot.core.merge import Mark
from bot.settings import Settings
from bot.store.groups import GroupRecord, GroupStore
from bot.store.intents import IntentStore
from tests.core.test_merge import intent

GROUP = "local:manifests:main:prod"
PINNED = GroupState(pinned=(Pin("ghcr.io/acme/api", "1.0.5", by="alice"),))


def note_error(groups: GroupStore, text: str) -> GroupRecord:
    return groups.update(GROUP, lambda rec: replace(rec, state=replace(rec.state, last_error=text)))


def test_a_record_is_adopted_only_while_redis_does_not_know_the_group(
    redis_conn: redis.Redis, settings: Settings
) -> None:
    groups = GroupStore(redis_conn, settings)
    assert not groups.get(GROUP).stored and not groups.get(GROUP).known
    noted = note_error(groups, "502 from the forge")  # before the rebuild got to it
    assert noted.partial and groups.get(GROUP).stored and not groups.get(GROUP).known

    rebuilt = GroupRecord(
        GROUP, state=PINNED, pr_number=7, head_branch="manifest-bot/prod/prod", ran=Ran().add(3)
    )
    assert groups.adopt(rebuilt)

    record = groups.get(GROUP)
    assert record.known and record.pr_number == 7 and record.ran.has(3)
    assert record.state == replace(PINNED, last_error="502 from the forge")  # the note stays
    assert groups.group_for_branch("local", "manifests", "manifest-bot/prod/prod") == GROUP
    assert not groups.adopt(GroupRecord(GROUP))  # known now: never overwritten
    assert groups.get(GROUP).state.pinned == PINNED.pinned
    assert note_error(groups, "again").known  # a note on a known group leaves it known


def test_restore_replays_what_arrived_since_over_the_kept_rollback(
    redis_conn: redis.Redis, settings: Settings
) -> None:
    store = IntentStore(redis_conn, settings)
    rollback = intent("1.1.0", (1, 1, 0), rollback=True)
    mark = Mark("semver", (1, 3, 0), "1.3.0", None)
    store.merge([intent("1.2.0", (1, 2, 0))])  # arrived after Redis forgot: older than the mark
    generation = store.snapshot(GROUP).generation

    assert store.restore(GROUP, [Asked(rollback, mark)], GroupState()) == generation + 1

    snap = store.snapshot(GROUP)
    assert snap.active[rollback.target_key] == rollback and snap.marks[rollback.target_key] == mark
    store.merge([intent("1.3.0", (1, 3, 0))])  # the build rolled back from, once more
    assert store.snapshot(GROUP).active[rollback.target_key] == rollback
    store.merge([intent("1.3.1", (1, 3, 1))])
    assert store.snapshot(GROUP).active[rollback.target_key].tag == "1.3.1"
