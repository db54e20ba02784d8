"""LocalGitForge.read_files: many files at one ref through one ``git cat-file --batch`` process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.core.ports import BatchReader
from bot.errors import NotFound
from bot.forges.local.adapter import LocalGitForge
from bot.forges.local.git import GitRepo
from tests.forges.local_fixture import seed_repo

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


def test_one_cat_file_process_for_all_paths(forge: LocalGitForge, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = GitRepo.run

    def spy(self: GitRepo, *args: str, **kwargs: Any) -> Any:
        calls.append(args[0])
        return real(self, *args, **kwargs)

    monkeypatch.setattr(GitRepo, "run", spy)
    forge.read_files(REPO, list(ODD) * 3, "main")
    assert calls == ["rev-parse", "cat-file"]


def test_missing_ref_is_not_found_and_no_paths_is_empty(forge: LocalGitForge) -> None:
    with pytest.raises(NotFound):
        forge.read_files(REPO, ["apps/api.yaml"], "no-such-branch")
    assert forge.read_files(REPO, [], "main") == {}
