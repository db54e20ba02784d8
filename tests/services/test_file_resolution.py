"""Which files an intent edits: explicit paths, globs against the tree, auto-discovery (cached)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bot.forges.local.adapter import LocalGitForge
from bot.services.files import ScanCache, glob_regex, resolve_files
from tests.forges.local_fixture import seed_repo
from tests.services.lifecycle_fixture import intent

FILES = {
    "envs/dev/api.yaml": "image: ghcr.io/acme/api:1.0\n",
    "envs/dev/sub/api.yml": "containers:\n  - image: ghcr.io/acme/api:1.0\n",
    "envs/prod/api.yaml": "image: ghcr.io/acme/api-streaming:1.0\n",
    "envs/dev/notes.txt": "ghcr.io/acme/api:1.0\n",
    "broken.yaml": "a: [unclosed\n",
}


def test_globs() -> None:
    assert glob_regex("envs/*/api.yaml").match("envs/dev/api.yaml")
    assert not glob_regex("envs/*.yaml").match("envs/dev/api.yaml")
    assert glob_regex("envs/**/*.yml").match("envs/dev/sub/api.yml")
    assert glob_regex("**/*.yaml").match("top.yaml")
    assert glob_regex("envs/[!p]*/api.yaml").match("envs/dev/api.yaml")
    assert not glob_regex("envs/[!p]*/api.yaml").match("envs/prod/api.yaml")


def test_explicit_glob_and_discovery(tmp_path: Path) -> None:
    seed_repo(tmp_path, "acme/deploy", FILES)
    forge = LocalGitForge(tmp_path)
    base = forge.branch_head("acme/deploy", "main") or ""
    assert resolve_files(forge, intent(files=("envs/x.yaml",)), base) == ["envs/x.yaml"]
    assert resolve_files(forge, intent(files=("envs/**/*.y*ml",)), base) == [
        "envs/dev/api.yaml",
        "envs/dev/sub/api.yml",
        "envs/prod/api.yaml",
    ]
    cache = ScanCache()
    found = resolve_files(forge, intent(files=()), base, cache=cache)
    assert found == ["envs/dev/api.yaml", "envs/dev/sub/api.yml"]  # never the -streaming prefix match

    class Counting(LocalGitForge):
        reads = 0

        def read_file(self, repo: str, path: str, ref: str) -> bytes:
            Counting.reads += 1
            return super().read_file(repo, path, ref)

        def read_files(self, repo: str, paths: Sequence[str], ref: str) -> dict[str, bytes | None]:
            Counting.reads += 1
            return super().read_files(repo, paths, ref)

    counting = Counting(tmp_path)
    resolve_files(counting, intent(files=()), base, cache=cache)
    assert Counting.reads == 0  # same forge name, repo and base: served from the cache


def test_discovery_include_and_exclude_globs_limit_the_files(tmp_path: Path) -> None:
    seed_repo(tmp_path, "acme/deploy", FILES)
    forge = LocalGitForge(tmp_path)
    base = forge.branch_head("acme/deploy", "main") or ""
    only_dev_top = intent(files=(), discover_include=("envs/dev/*.yaml",))
    assert resolve_files(forge, only_dev_top, base) == ["envs/dev/api.yaml"]
    not_sub = intent(files=(), exclude=("envs/**/sub/*",))
    assert resolve_files(forge, not_sub, base) == ["envs/dev/api.yaml"]
    # exclude applies to explicit globs as well
    globbed = intent(files=("envs/**/*.y*ml",), exclude=("envs/prod/**",))
    assert resolve_files(forge, globbed, base) == ["envs/dev/api.yaml", "envs/dev/sub/api.yml"]
