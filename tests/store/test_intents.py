from __future__ import annotations

import random
import threading
from dataclasses import replace

import redis

from bot.core.group_state import GroupState, Pin
from bot.core.merge import Mark
from bot.settings import Settings
from bot.store.groups import GroupStore
from bot.store.intents import IntentStore
from tests.core.test_merge import intent

GROUP = "local:manifests:main:prod"


def test_merge_persists_highest_and_bumps_generation(redis_conn: redis.Redis, settings: Settings) -> None:
    store = IntentStore(redis_conn, settings)
    out = store.merge([intent("1.2.0", (1, 2, 0)), intent("1.3.0", (1, 3, 0))])
    assert out[GROUP].changed
    snap = store.snapshot(GROUP)
    (active,) = snap.active.values()
    assert active.tag == "1.3.0" and active.origin.delivery_id == "d-1.3.0"
    assert snap.generation == 1 and snap.applied == 0 and snap.dirty
    assert GroupStore(redis_conn, settings).groups_of("local", "manifests") == [GROUP]
    # every key carries the prefix, so tests (and several bots) never collide
    ours = {k.decode() for k in redis_conn.scan_iter(f"{settings.redis_prefix}:*")}
    assert {f"{settings.redis_prefix}:{kind}:{GROUP}" for kind in ("intents", "marks", "gen")} <= ours


def test_older_and_duplicate_do_not_bump_generation(redis_conn: redis.Redis, settings: Settings) -> None:
    store = IntentStore(redis_conn, settings)
    store.merge([intent("1.3.0", (1, 3, 0))])
    store.merge([intent("1.2.0", (1, 2, 0)), intent("1.3.0", (1, 3, 0))])
    snap = store.snapshot(GROUP)
    assert snap.generation == 1
    assert [(s["tag"], s["reason"]) for s in store.superseded(GROUP)] == [
        ("1.3.0", "duplicate"),
        ("1.2.0", "older"),
    ]


def test_applied_only_moves_forward(redis_conn: redis.Redis, settings: Settings) -> None:
    store = IntentStore(redis_conn, settings)
    store.merge([intent("1.3.0", (1, 3, 0))])
    assert store.mark_applied(GROUP, 1) == 1
    assert store.mark_applied(GROUP, 0) == 1
    assert not store.snapshot(GROUP).dirty
    assert store.bump(GROUP) == 2
    assert store.snapshot(GROUP).dirty


def test_clear_after_merge_keeps_mark_and_newer(redis_conn: redis.Redis, settings: Settings) -> None:
    store = IntentStore(redis_conn, settings)
    store.merge([intent("1.3.0", (1, 3, 0)), intent("2.0.0", (2, 0, 0), image="ghcr.io/acme/web")])
    api = intent("x", ()).target_key
    cleared = store.clear(GROUP, {api: Mark("semver", (1, 3, 0), "1.3.0", None)})
    assert cleared == [api]
    snap = store.snapshot(GROUP)
    assert [i.tag for i in snap.active.values()] == ["2.0.0"]
    assert snap.generation == 2
    # a late old build after the merge is still refused by the mark
    assert not store.merge([intent("1.2.0", (1, 2, 0))])[GROUP].changed


def test_clear_with_ignore_refuses_version_until_newer(redis_conn: redis.Redis, settings: Settings) -> None:
    store = IntentStore(redis_conn, settings)
    store.merge([intent("1.3.0", (1, 3, 0))])
    api = intent("x", ()).target_key
    store.clear(GROUP, {api: Mark("semver", (1, 3, 0), "1.3.0", None)}, ignore=True)
    (mark,) = GroupStore(redis_conn, settings).get(GROUP).state.ignored
    assert (mark.image, mark.up_to) == ("ghcr.io/acme/api", (1, 3, 0))
    assert store.snapshot(GROUP).active == {}
    again = store.merge([intent("1.3.0", (1, 3, 0), digest="sha256:" + "c" * 64)])[GROUP]
    assert again.superseded[0].reason == "ignored"
    assert store.merge([intent("1.3.1", (1, 3, 1))])[GROUP].changed


def test_concurrent_merges_lose_nothing(redis_conn: redis.Redis, settings: Settings) -> None:
    images = [f"ghcr.io/acme/app{i}" for i in range(5)]
    batches = [
        [intent(f"1.{v}.0", (1, v, 0), image=img) for img in images for v in range(20)] for _ in range(4)
    ]
    for batch in batches:
        random.Random(len(batch)).shuffle(batch)

    def work(batch: list) -> None:
        store = IntentStore(redis.Redis.from_url(settings.redis_url), settings)
        for one in batch:
            store.merge([one])

    threads = [threading.Thread(target=work, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    snap = IntentStore(redis_conn, settings).snapshot(GROUP)
    assert sorted(i.tag for i in snap.active.values()) == ["1.19.0"] * 5
    assert {m.tag for m in snap.marks.values()} == {"1.19.0"}


def pin_one(state: GroupState, image: str) -> GroupState:
    return replace(state, pinned=(*state.pinned, Pin(image, "1")))


def test_group_record_update_is_atomic(redis_conn: redis.Redis, settings: Settings) -> None:
    groups = GroupStore(redis_conn, settings)

    def pin(n: int) -> None:
        store = GroupStore(redis.Redis.from_url(settings.redis_url), settings)
        for i in range(25):
            store.update(GROUP, lambda r, k=f"img{n}-{i}": replace(r, state=pin_one(r.state, k)))

    threads = [threading.Thread(target=pin, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    rec = groups.get(GROUP)
    assert len(rec.state.pinned) == 100
    groups.set_fields(GROUP, pr_number=7, head_branch="manifest-bot/prod/prod")
    assert groups.group_for_branch("local", "manifests", "manifest-bot/prod/prod") == GROUP
    assert groups.groups_of("local", "manifests", "main") == [GROUP]
    assert groups.groups_of("local", "manifests", "release") == []
