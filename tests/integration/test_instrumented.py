"""The bench/test forge wrapper counts a batched read as one forge call with one latency."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis

from bot.services.reads import read_many
from tests.conftest import TEST_REDIS_URL
from tests.integration import instrumented
from tests.integration.instrumented import Instrumented
from tests.services.lifecycle_fixture import REPO, make_forge
from tests.services.test_reads import NoBatch

PATHS = ["envs/dev/api.yaml", "envs/dev/web-values.yaml", "README.md", "nope.yaml"]


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    clock = SimpleNamespace(sleep=slept.append, time=time.time)  # only the wrapper's own sleeps
    monkeypatch.setattr(instrumented, "time", clock)
    return slept


def calls(conn: redis.Redis, key: str) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in conn.hgetall(f"{key}:calls").items()}


def test_read_files_is_one_counted_call_with_one_latency(
    tmp_path: Path, redis_conn: redis.Redis, redis_prefix: str, sleeps: list[float]
) -> None:
    key = f"{redis_prefix}:forge"
    forge = Instrumented(make_forge(tmp_path), {"redis_url": TEST_REDIS_URL, "key": key, "latency_ms": 50})
    got = read_many(forge, REPO, PATHS, "main")  # type: ignore[arg-type]
    assert got["README.md"] == b"manifests\n" and got["nope.yaml"] is None
    assert calls(redis_conn, key) == {"read_files": 1}
    assert sleeps == [0.05]


def test_a_forge_without_read_files_is_counted_per_file(
    tmp_path: Path, redis_conn: redis.Redis, redis_prefix: str, sleeps: list[float]
) -> None:
    key = f"{redis_prefix}:forge"
    inner = NoBatch(make_forge(tmp_path))
    forge = Instrumented(inner, {"redis_url": TEST_REDIS_URL, "key": key, "latency_ms": 50})  # type: ignore[arg-type]
    assert not hasattr(forge, "read_files")  # the wrapper must not invent the extra
    got = read_many(forge, REPO, PATHS, "main")  # type: ignore[arg-type]
    assert got["nope.yaml"] is None
    assert calls(redis_conn, key) == {"read_file": len(PATHS)}
    assert sleeps == [0.05] * len(PATHS)
