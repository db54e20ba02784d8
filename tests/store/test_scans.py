"""ScanStore: one file's scan by blob sha and path in Redis, shared by every worker process; what
comes back is what went in, and anything that is not (corrupt, another format, too large, a Redis
that does not answer) is a miss, never an error."""

from __future__ import annotations

import orjson
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bot.core.manifests import scan
from bot.core.manifests.budget import BudgetExceeded
from bot.errors import ManifestError
from bot.settings import Settings
from bot.store.scans import FORMAT, FileKey, FileScan, ScanStore, decode, encode

TEXT = """\
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers:
        - name: api
          image: ghcr.io/acme/api:1.0.0 # {"$imagepolicy": "flux-system:api"}
        - name: side
          image: docker.io/library/redis@sha256:"""
TEXT += "0123456789abcdef" * 4 + "\n"
PATH = "envs/dev/api.yaml"
A = FileKey("a" * 40, PATH)
B = FileKey("b" * 40, "envs/dev/b.yaml")


def refs(path: str = PATH) -> FileScan:
    return FileScan(tuple(scan(TEXT, path)))


@pytest.fixture
def store(redis_conn: redis.Redis, settings: Settings) -> ScanStore:
    return ScanStore(redis_conn, settings, version="test")


def test_references_and_errors_come_back_as_they_went_in() -> None:
    found = refs()
    assert len(found.refs) == 2 and found.refs[0].marker == "flux-system:api" and found.refs[0].spans
    assert decode(encode(found), PATH) == found
    bad = FileScan(error=ManifestError("invalid YAML: mapping values are not allowed", file=PATH, line=3))
    back = decode(encode(bad), PATH)
    assert back is not None and type(back.error) is ManifestError and str(back.error) == str(bad.error)
    bomb = FileScan(error=BudgetExceeded("aliases and merge keys expand", file=PATH, line=1, steps=42))
    back = decode(encode(bomb), PATH)
    assert back is not None and isinstance(back.error, BudgetExceeded) and back.error.steps == 42
    assert back.error.reason == "aliases and merge keys expand" and back.error.file == PATH
    assert decode(encode(FileScan()), PATH) == FileScan()


def test_a_second_user_of_the_store_gets_every_stored_scan_in_one_read(
    store: ScanStore, redis_conn: redis.Redis, settings: Settings
) -> None:
    assert store.get_many([A, B]) == {}
    assert store.put_many({A: refs(), B: FileScan(refs=())}) == 2
    other = ScanStore(redis.Redis.from_url(settings.redis_url), settings, version="test")
    assert other.get_many([A, B, FileKey("c" * 40, PATH)]) == {A: refs(), B: FileScan()}
    assert 0 < redis_conn.ttl(store.key(A)) <= store.ttl_s
    assert store.key(A).startswith(f"{settings.redis_prefix}:scan:test:{'a' * 40}:")
    # the key is the content *and* the path (the scanner reads the file name), and the version
    assert store.get_many([FileKey(A.blob, "elsewhere.yaml")]) == {}
    assert ScanStore(redis_conn, settings, version="next").get_many([A]) == {}


def test_corrupt_or_foreign_entries_are_misses(store: ScanStore, redis_conn: redis.Redis) -> None:
    good = orjson.loads(encode(refs()))
    item = good["r"][0]
    broken = {
        "not json": b"\x00\xffnot json",
        "a list": orjson.dumps([1, 2]),
        "another format": orjson.dumps({**good, "v": FORMAT + 1}),
        "no references": orjson.dumps({"v": FORMAT}),
        "short item": orjson.dumps({"v": FORMAT, "r": [item[:-1]]}),
        "unknown kind": orjson.dumps({"v": FORMAT, "r": [[*item[:2], "rocket", *item[3:]]]}),
        "bool for a line": orjson.dumps({"v": FORMAT, "r": [[*item[:3], True, *item[4:]]]}),
        "odd spans": orjson.dumps({"v": FORMAT, "r": [[*item[:9], [1, 2, 3]]]}),
        "number for a tag": orjson.dumps({"v": FORMAT, "r": [[*item[:6], 7, *item[7:]]]}),
        "bad error": orjson.dumps({"v": FORMAT, "e": ["reason", "line 3", None]}),
    }
    keys = {name: FileKey(f"{i:040x}", PATH) for i, name in enumerate(broken)}
    for name, raw in broken.items():
        redis_conn.set(store.key(keys[name]), raw)
    store.put_many({A: refs()})
    assert store.get_many([*keys.values(), A]) == {A: refs()}


def test_oversized_scans_are_not_written_and_oversized_entries_not_read(
    store: ScanStore, redis_conn: redis.Redis, settings: Settings
) -> None:
    small = ScanStore(redis_conn, settings, version="test", max_entry_bytes=200)
    assert len(encode(refs())) > 200
    assert small.put_many({A: refs(), B: FileScan()}) == 1
    assert store.get_many([A, B]) == {B: FileScan()}
    store.put_many({A: refs()})
    assert small.get_many([A]) == {}  # written by a store with a larger cap: too large to read here
    assert store.get_many([A]) == {A: refs()}


def test_a_key_that_is_not_a_blob_sha_is_never_asked_for(store: ScanStore) -> None:
    odd = FileKey("main:envs/dev/api.yaml", PATH)
    assert store.put_many({odd: refs()}) == 0
    assert store.get_many([odd]) == {}


def test_a_redis_that_does_not_answer_is_a_miss_not_an_error(settings: Settings) -> None:
    no_retries = Retry(NoBackoff(), 0)  # redis-py would otherwise back off and try again
    gone = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=no_retries)
    store = ScanStore(gone, settings, version="test")
    assert store.get_many([A]) == {}
    assert store.put_many({A: refs()}) == 0
