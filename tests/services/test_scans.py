"""Discovery's scans kept by blob sha and path: a new base reads only the files it changed, a
second worker process (a new ScanCache on the same Redis) reads none that any worker has scanned,
and a corrupt shared entry only costs that file a re-scan."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import redis

from bot.core.manifests.budget import BudgetExceeded
from bot.core.ports import Blob, ForgeInfo
from bot.forges.local.adapter import LocalGitForge
from bot.services import scans
from bot.services.files import resolve_files, skipped_in_lane
from bot.services.scans import ScanCache, git_blob_sha, scanner_version
from bot.settings import Settings
from bot.store.scans import FileKey, ScanStore
from tests.forges.local_fixture import human_commit, seed_repo
from tests.services.lifecycle_fixture import REPO, intent

FILES = {f"envs/dev/app{i}.yaml": f"image: ghcr.io/acme/app{i}:1.0.{i}\n" for i in range(6)}
FILES |= {
    "envs/dev/api.yaml": "spec:\n  containers:\n    - image: ghcr.io/acme/api:1.0.0\n",
    "envs/dev/notes.txt": "ghcr.io/acme/api:1.0.0\n",
    "envs/dev/bomb.yaml": "a0: &a0 {k: v}\n"
    + "".join(f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}]}}\n" for i in range(1, 41)),
}
DISCOVER = intent(files=())


class Counting(LocalGitForge):
    """The local forge, recording every path it was asked to read."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: list[list[str]] = []

    def read_files(self, repo: str, paths: Sequence[str], ref: str) -> dict[str, bytes | None]:
        self.reads.append(list(paths))
        return super().read_files(repo, paths, ref)


class Unlisted:
    """A forge without blob shas in its listing (only the Protocol's reads)."""

    def __init__(self, inner: LocalGitForge) -> None:
        self.inner = inner
        self.info = ForgeInfo(name="unlisted", kind="gitlab")
        self.reads: list[str] = []

    def read_file(self, repo: str, path: str, ref: str) -> bytes:
        self.reads.append(path)
        return self.inner.read_file(repo, path, ref)

    def list_tree(self, repo: str, ref: str) -> list[str]:
        return self.inner.list_tree(repo, ref)


@pytest.fixture
def forge(tmp_path: Path) -> Counting:
    seed_repo(tmp_path, REPO, FILES)
    return Counting(tmp_path)


@pytest.fixture
def store(redis_conn: redis.Redis, settings: Settings) -> ScanStore:
    return ScanStore(redis_conn, settings, version=scanner_version())


def base(forge: LocalGitForge) -> str:
    return forge.branch_head(REPO, "main") or ""


def test_a_second_process_reads_no_file_any_worker_has_scanned(forge: Counting, store: ScanStore) -> None:
    first = ScanCache(store=store)
    assert resolve_files(forge, DISCOVER, base(forge), cache=first) == ["envs/dev/api.yaml"]
    yaml_files = sorted(p for p in FILES if p.endswith(".yaml"))
    assert sorted(p for chunk in forge.reads for p in chunk) == yaml_files  # the misses, nothing else
    assert (first.stats.scanned, first.stats.shared) == (len(yaml_files), 0)

    forge.reads.clear()
    second = ScanCache(store=store)  # a new worker process: its own memory, the same Redis
    assert resolve_files(forge, DISCOVER, base(forge), cache=second) == ["envs/dev/api.yaml"]
    assert forge.reads == []
    assert (second.stats.scanned, second.stats.shared) == (0, len(yaml_files))
    assert second.references(forge, REPO, base(forge)) == first.references(forge, REPO, base(forge))
    # the bomb's error travels too: the second process reports it without parsing it
    (err,) = skipped_in_lane(forge, DISCOVER, base(forge), cache=second).values()
    assert isinstance(err, BudgetExceeded) and err.file == "envs/dev/bomb.yaml"
    assert str(err) == str(first.skipped(forge, REPO, base(forge))["envs/dev/bomb.yaml"])


def test_a_new_base_reads_and_scans_only_what_it_changed(forge: Counting, store: ScanStore) -> None:
    cache = ScanCache(store=store)
    resolve_files(forge, DISCOVER, base(forge), cache=cache)
    before = cache.stats.scanned
    forge.reads.clear()
    new = human_commit(forge, REPO, "main", {"envs/dev/app3.yaml": "image: ghcr.io/acme/api:1.0.0\n"})
    assert resolve_files(forge, DISCOVER, new, cache=cache) == ["envs/dev/api.yaml", "envs/dev/app3.yaml"]
    assert forge.reads == [["envs/dev/app3.yaml"]]
    assert cache.stats.scanned == before + 1
    # a second process on the new base: everything from Redis, the old files and the new one
    forge.reads.clear()
    assert resolve_files(forge, DISCOVER, new, cache=ScanCache(store=store)) == [
        "envs/dev/api.yaml",
        "envs/dev/app3.yaml",
    ]
    assert forge.reads == []


def test_a_corrupt_shared_entry_costs_that_file_one_scan(
    forge: Counting, store: ScanStore, redis_conn: redis.Redis
) -> None:
    resolve_files(forge, DISCOVER, base(forge), cache=ScanCache(store=store))
    sha = forge.list_blobs(REPO, base(forge))["envs/dev/api.yaml"].sha
    redis_conn.set(store.key(FileKey(sha, "envs/dev/api.yaml")), b'{"v": 1, "r": [[0, "image"]]}')
    forge.reads.clear()
    again = ScanCache(store=store)
    assert resolve_files(forge, DISCOVER, base(forge), cache=again) == ["envs/dev/api.yaml"]
    assert forge.reads == [["envs/dev/api.yaml"]] and again.stats.scanned == 1
    forge.reads.clear()
    assert resolve_files(forge, DISCOVER, base(forge), cache=ScanCache(store=store)) == ["envs/dev/api.yaml"]
    assert forge.reads == []  # the re-scan was written back


def test_without_the_store_each_process_scans_for_itself(forge: Counting) -> None:
    resolve_files(forge, DISCOVER, base(forge), cache=ScanCache())
    forge.reads.clear()
    other = ScanCache()
    assert resolve_files(forge, DISCOVER, base(forge), cache=other) == ["envs/dev/api.yaml"]
    assert forge.reads and other.stats.shared == 0


def test_a_forge_without_blob_shas_reads_everything_but_parses_nothing_twice(
    forge: Counting, store: ScanStore
) -> None:
    unlisted = Unlisted(forge)
    first = ScanCache(store=store)
    found = resolve_files(unlisted, DISCOVER, base(forge), cache=first)  # type: ignore[arg-type]
    assert found == ["envs/dev/api.yaml"]
    second = ScanCache(store=store)
    assert resolve_files(unlisted, DISCOVER, base(forge), cache=second) == found  # type: ignore[arg-type]
    assert (second.stats.scanned, second.stats.shared) == (0, first.stats.scanned)
    # keyed by the sha git gives the bytes: a forge that lists shas finds the same entries
    listed = ScanCache(store=store)
    resolve_files(forge, DISCOVER, base(forge), cache=listed)
    assert listed.stats.scanned == 0


def test_a_listing_without_real_blob_shas_is_keyed_by_content(tmp_path: Path, store: ScanStore) -> None:
    class SameSha(Counting):  # like a fake forge whose tree answers the same id for every blob
        def list_blobs(self, repo: str, ref: str) -> dict[str, Blob]:
            return {path: Blob("b") for path in super().list_blobs(repo, ref)}

    seed_repo(tmp_path, REPO, FILES)
    forge = SameSha(tmp_path)
    cache = ScanCache(store=store)
    assert resolve_files(forge, DISCOVER, base(forge), cache=cache) == ["envs/dev/api.yaml"]
    new = human_commit(forge, REPO, "main", {"envs/dev/api.yaml": "image: ghcr.io/acme/web:1.0\n"})
    assert resolve_files(forge, DISCOVER, new, cache=cache) == []  # the new bytes, not a stale scan


def test_the_content_key_is_gits_blob_sha(forge: Counting) -> None:
    listing = forge.list_blobs(REPO, base(forge))
    for path, text in FILES.items():
        assert listing[path] == Blob(git_blob_sha(text.encode()), len(text.encode()))


def test_discovery_reads_in_bounded_chunks_and_never_reads_an_oversized_file(
    forge: Counting, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scans, "READ_FILES", 3)
    cache = ScanCache()
    resolve_files(forge, DISCOVER, base(forge), cache=cache)
    assert [len(chunk) for chunk in forge.reads] == [3, 3, 2]

    forge.reads.clear()
    huge = "# " + "x" * (5 * 1024 * 1024) + "\nimage: ghcr.io/acme/api:1.0.0\n"
    new = human_commit(forge, REPO, "main", {"envs/dev/huge.yaml": huge})
    assert resolve_files(forge, DISCOVER, new, cache=cache) == ["envs/dev/api.yaml"]
    assert forge.reads == []  # refused by its listed size, unread
    err = cache.skipped(forge, REPO, new)["envs/dev/huge.yaml"]
    assert "over the limit of 5242880 bytes" in str(err)


def test_the_scanner_version_names_the_code_that_scans() -> None:
    assert scanner_version() == scanner_version() and len(scanner_version()) == 12
