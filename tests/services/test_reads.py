"""read_many and its callers: one batched forge call where the forge has ``read_files``, a loop of
``read_file`` (NotFound → None) where it does not (GitLab)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.core.ports import BatchReader, Forge, ForgeInfo
from bot.errors import ManifestError
from bot.forges.local.adapter import LocalGitForge
from bot.services.desired import desired_state
from bot.services.files import ScanCache, resolve_files
from bot.services.reads import read_many
from tests.services.lifecycle_fixture import REPO, intent, make_forge


class Counting(LocalGitForge):
    """The local forge, counting each kind of read."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.calls: list[tuple[str, int]] = []

    def read_file(self, repo: str, path: str, ref: str) -> bytes:
        self.calls.append(("read_file", 1))
        return super().read_file(repo, path, ref)

    def read_files(self, repo: str, paths: Sequence[str], ref: str) -> dict[str, bytes | None]:
        self.calls.append(("read_files", len(paths)))
        return super().read_files(repo, paths, ref)


class NoBatch:
    """A forge without the optional extra (like GitLab): only the Protocol's ``read_file``."""

    def __init__(self, inner: LocalGitForge) -> None:
        self.inner = inner
        self.info = ForgeInfo(name="nobatch", kind="gitlab")
        self.reads: list[str] = []

    def read_file(self, repo: str, path: str, ref: str) -> bytes:
        self.reads.append(path)
        return self.inner.read_file(repo, path, ref)

    def list_tree(self, repo: str, ref: str) -> list[str]:
        return self.inner.list_tree(repo, ref)


@pytest.fixture
def forge(tmp_path: Path) -> Counting:
    make_forge(tmp_path)
    return Counting(tmp_path)


def test_read_many_batches_when_the_forge_can(forge: Counting) -> None:
    got = read_many(forge, REPO, ["envs/dev/api.yaml", "nope.yaml", "README.md", "nope.yaml"], "main")
    assert got == {
        "envs/dev/api.yaml": forge.read_file(REPO, "envs/dev/api.yaml", "main"),
        "nope.yaml": None,
        "README.md": b"manifests\n",
    }
    assert forge.calls == [("read_files", 3), ("read_file", 1)]  # the last one is the check above
    assert read_many(forge, REPO, [], "main") == {}
    assert len(forge.calls) == 2  # nothing asked, nothing called


def test_read_many_loops_read_file_without_the_extra(forge: Counting) -> None:
    plain = NoBatch(forge)
    assert not isinstance(plain, BatchReader)
    got = read_many(plain, REPO, ["README.md", "nope.yaml"], "main")  # type: ignore[arg-type]
    assert got == {"README.md": b"manifests\n", "nope.yaml": None}
    assert plain.reads == ["README.md", "nope.yaml"]


def test_desired_state_reads_every_file_of_every_intent_in_one_call(forge: Counting) -> None:
    base = forge.branch_head(REPO, "main") or ""
    intents = [intent(), intent(image="ghcr.io/acme/web", tag="2.1.0")]
    desired = desired_state(forge, intents, base)
    assert sorted(desired.contents) == ["envs/dev/api.yaml", "envs/dev/web-values.yaml"]
    assert b"ghcr.io/acme/api:1.1.0" in desired.contents["envs/dev/api.yaml"]
    assert b'tag: "2.1.0"' in desired.contents["envs/dev/web-values.yaml"]
    assert forge.calls == [("read_files", 2)]


def test_desired_state_without_batching_gives_the_same_result(forge: Counting) -> None:
    base = forge.branch_head(REPO, "main") or ""
    intents = [intent(), intent(image="ghcr.io/acme/web", tag="2.1.0")]
    plain = NoBatch(forge)
    assert desired_state(plain, intents, base) == desired_state(forge, intents, base)  # type: ignore[arg-type]
    assert sorted(plain.reads) == ["envs/dev/api.yaml", "envs/dev/web-values.yaml"]


def test_a_missing_explicit_file_is_still_a_manifest_error(forge: Counting) -> None:
    base = forge.branch_head(REPO, "main") or ""
    with pytest.raises(ManifestError) as err:
        desired_state(forge, [intent(files=("envs/dev/gone.yaml",))], base)
    assert err.value.file == "envs/dev/gone.yaml"
    assert "does not exist" in str(err.value)


def test_discovery_reads_the_whole_tree_in_one_call(forge: Counting) -> None:
    base = forge.branch_head(REPO, "main") or ""
    cache = ScanCache()
    assert resolve_files(forge, intent(files=()), base, cache=cache) == ["envs/dev/api.yaml"]
    assert forge.calls == [("read_files", 2)]  # both YAML files, not README.md
    resolve_files(forge, intent(files=()), base, cache=cache)
    assert len(forge.calls) == 1  # cached per base


def test_forge_protocol_does_not_require_read_files() -> None:
    assert "read_files" not in Forge.__dict__
