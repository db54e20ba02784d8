"""LocalGitForge.read_files: many files at one ref through one ``git cat-file --batch`` process
reading the blob shas of the commit's tree listing (kept per commit), within a byte bound."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.core.ports import BatchReader, Blob, BlobLister
from bot.errors import ForgeError, NotFound, ValidationFailed
from bot.forges.local.adapter import LocalGitForge
from bot.forges.local.git import GitRepo
from tests.forges.local_fixture import git, seed_repo

REPO = "acme/manifests"
ODD = {
    "apps/api.yaml": "image: api:1.0\n",
    "apps/web app.yaml": "image: web:1.0\n",  # a space
    "apps/new\nline.yaml": "image: nl:1.0\n",  # a newline: the batch input is NUL-separated
    "apps/x missing.yaml": "looks like a 'missing' answer\n",
    "empty.yaml": "",
    "bom.yaml": "\ufeffimage: bom:1.0\r\n",
}


@pytest.fixture
def forge(tmp_path: Path) -> LocalGitForge:
    seed_repo(tmp_path, REPO, ODD)
    return LocalGitForge(tmp_path)


def test_reads_every_path_exactly_and_marks_absent_ones_none(forge: LocalGitForge) -> None:
    assert isinstance(forge, BatchReader)
    asked = [*ODD, "nope.yaml", "apps", "apps/nope\nmissing.yaml", "apps/api.yaml"]
    got = forge.read_files(REPO, asked, "main")
    assert set(got) == set(asked)
    for path, text in ODD.items():
        assert got[path] == text.encode(), path
        assert got[path] == forge.read_file(REPO, path, "main")
    assert got["nope.yaml"] is None
    assert got["apps"] is None  # a directory is not a file
    assert got["apps/nope\nmissing.yaml"] is None


def test_binary_content_round_trips(tmp_path: Path) -> None:
    path = seed_repo(tmp_path, REPO, {"a.yaml": "a: 1\n"})
    repo = GitRepo(path, ("Seed", "seed@example.com"))
    blob = bytes(range(256)) + b"\n1234 blob 5\n\0"
    head = repo.require("refs/heads/main")
    repo.cas_ref("main", repo.make_commit(head, {"bin.dat": blob, "b.yaml": b"b: 2\n"}, "bin\n"), head)
    got = LocalGitForge(tmp_path).read_files(REPO, ["bin.dat", "a.yaml", "b.yaml"], "main")
    assert got == {"bin.dat": blob, "a.yaml": b"a: 1\n", "b.yaml": b"b: 2\n"}


def spy_git(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bytes | None]]:
    """Every git subcommand the forge runs, with its standard input."""
    calls: list[tuple[str, bytes | None]] = []
    real = GitRepo.run

    def spy(self: GitRepo, *args: str, **kwargs: Any) -> Any:
        calls.append((args[0], kwargs.get("input")))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(GitRepo, "run", spy)
    return calls


def test_one_cat_file_process_reads_blob_shas_from_the_listing(
    forge: LocalGitForge, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy_git(monkeypatch)
    forge.read_files(REPO, list(ODD) * 3, "main")
    assert [name for name, _ in calls] == ["rev-parse", "ls-tree", "cat-file"]
    asked = (calls[-1][1] or b"").decode().splitlines()
    listing = forge.list_blobs(REPO, "main")
    assert sorted(asked) == sorted(listing[p].sha for p in ODD)  # `<sha>` lines, not `<commit>:<path>`
    calls.clear()
    forge.read_files(REPO, ["apps/api.yaml"], "main")  # same commit: the listing is kept
    assert [name for name, _ in calls] == ["rev-parse", "cat-file"]
    assert (calls[-1][1] or b"").decode().split() == [listing["apps/api.yaml"].sha]


def test_the_listing_gives_each_file_its_blob_sha_and_size(forge: LocalGitForge) -> None:
    assert isinstance(forge, BlobLister)
    listing = forge.list_blobs(REPO, "main")
    assert sorted(listing) == sorted(ODD) == forge.list_tree(REPO, "main")
    for path, text in ODD.items():
        sha = git(forge.repo_path(REPO), "rev-parse", f"main:{path}")
        assert listing[path] == Blob(sha, len(text.encode())), path


def test_blobs_read_by_sha_are_the_files_read_by_path(tmp_path: Path) -> None:
    files = {f"envs/e{i % 7}/app{i:03d}.yaml": f"image: ghcr.io/acme/app{i}:1.{i}\n" for i in range(60)}
    files["envs/e1/same.yaml"] = files["envs/e2/same.yaml"] = "image: same:1\n"  # one blob, two paths
    seed_repo(tmp_path, REPO, files)
    forge = LocalGitForge(tmp_path)
    head = forge.branch_head(REPO, "main") or ""
    got = forge.read_files(REPO, [*files, "nope.yaml"], head)
    assert got == {**{p: t.encode() for p, t in files.items()}, "nope.yaml": None}
    repo = GitRepo(forge.repo_path(REPO), ("Seed", "seed@example.com"))
    by_commit_path = {p: repo.read_blob(head, p) for p in files}  # `git cat-file blob <commit>:<path>`
    assert {p: got[p] for p in files} == by_commit_path


def test_reading_unknown_objects(forge: LocalGitForge) -> None:
    repo = forge.git(REPO)
    present = forge.list_blobs(REPO, "main")["apps/api.yaml"].sha
    tree = repo.out("rev-parse", "main^{tree}")
    got = repo.read_objects([present, "0" * 40, tree])
    assert got == {present: b"image: api:1.0\n", "0" * 40: None, tree: None}  # a tree is not a blob
    with pytest.raises(ForgeError, match="not an object id"):
        repo.read_objects(["main:apps/api.yaml"])


def test_a_read_over_the_byte_bound_is_refused_before_anything_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_repo(tmp_path, REPO, {"a.yaml": "a" * 600, "b.yaml": "b" * 600, "c.yaml": "c" * 10})
    forge = LocalGitForge(tmp_path, max_read_bytes=1000)
    assert forge.read_files(REPO, ["a.yaml", "c.yaml", "gone.yaml"], "main")["a.yaml"] == b"a" * 600
    calls = spy_git(monkeypatch)
    with pytest.raises(ValidationFailed, match=r"1200 bytes, over the local forge's limit of 1000 bytes"):
        forge.read_files(REPO, ["a.yaml", "b.yaml"], "main")
    assert "cat-file" not in [name for name, _ in calls]


def test_missing_ref_is_not_found_and_no_paths_is_empty(forge: LocalGitForge) -> None:
    with pytest.raises(NotFound):
        forge.read_files(REPO, ["apps/api.yaml"], "no-such-branch")
    assert forge.read_files(REPO, [], "main") == {}
