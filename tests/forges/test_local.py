"""The local git forge against real repositories (bare and with a working tree)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.core.ports import FileChange, Forge, Permission, PrUpdate, Reaction
from bot.errors import Conflict, NotFound, ValidationFailed
from bot.forges.local.adapter import LocalGitForge
from tests.forges.local_fixture import commit_count, git, human_commit, seed_repo

FILES = {"apps/api.yaml": "image: api:1.0\n", "apps/web.yml": "image: web:1.0\n", "README.md": "hi\n"}


@pytest.fixture(params=[True, False], ids=["bare", "worktree"])
def forge(tmp_path: Path, request: pytest.FixtureRequest) -> LocalGitForge:
    seed_repo(tmp_path, "acme/manifests", FILES, bare=request.param)
    return LocalGitForge(tmp_path)


REPO = "acme/manifests"


def test_is_a_forge(forge: LocalGitForge) -> None:
    assert isinstance(forge, Forge)
    assert forge.info.kind == "local"


def test_reads_files_and_tree(forge: LocalGitForge) -> None:
    assert forge.list_tree(REPO, "main") == ["README.md", "apps/api.yaml", "apps/web.yml"]
    assert forge.read_file(REPO, "apps/api.yaml", "main") == b"image: api:1.0\n"
    with pytest.raises(NotFound):
        forge.read_file(REPO, "nope.yaml", "main")
    with pytest.raises(NotFound):
        forge.read_file(REPO, "README.md", "no-such-branch")
    with pytest.raises(NotFound):
        forge.list_tree("acme/other", "main")
    with pytest.raises(ValidationFailed):
        forge.read_file("../etc", "passwd", "main")


def test_commit_files_is_one_atomic_commit_with_cas(forge: LocalGitForge) -> None:
    base = forge.branch_head(REPO, "main")
    assert base is not None
    sha = forge.commit_files(
        REPO,
        "bump",
        parent=base,
        changes=[FileChange("apps/api.yaml", b"image: api:2.0\n"), FileChange("README.md", None)],
        message="bump api\n",
        expected_head=None,
    )
    assert forge.branch_head(REPO, "bump") == sha
    assert forge.branch_head(REPO, "main") == base  # base untouched
    assert forge.read_file(REPO, "apps/api.yaml", "bump") == b"image: api:2.0\n"
    assert "README.md" not in forge.list_tree(REPO, "bump")
    [info] = forge.commits_between(REPO, base, sha)
    assert info.parents == (base,)
    assert info.author_login == "manifest-bot[bot]"
    assert info.message.startswith("bump api")

    # the branch exists now: "must not exist" and a stale expectation both lose
    for expected in (None, base):
        with pytest.raises(Conflict):
            forge.commit_files(
                REPO,
                "bump",
                parent=base,
                changes=[FileChange("x", b"x")],
                message="m",
                expected_head=expected,
            )
    assert forge.branch_head(REPO, "bump") == sha
    assert commit_count(forge, REPO, "bump") == 3


def test_observe_reads_both_tips_by_their_exact_names(forge: LocalGitForge) -> None:
    """One ``for-each-ref`` answers for both branches; a branch that does not exist is None even
    when branches under its name do (a ref pattern would match them)."""
    base = forge.branch_head(REPO, "main")
    assert base is not None
    change = [FileChange("apps/api.yaml", b"image: api:2.0\n")]
    sha = forge.commit_files(
        REPO, "manifest-bot/dev/apps", parent=base, changes=change, message="m\n", expected_head=None
    )
    seen = forge.observe(REPO, "main", "manifest-bot/dev/apps")
    assert (seen.base_sha, seen.head_sha, seen.pr, seen.last_pr) == (base, sha, None, None)
    under = forge.observe(REPO, "main", "manifest-bot")
    assert (under.base_sha, under.head_sha) == (base, None)
    gone = forge.observe(REPO, "no-such-base", "manifest-bot/dev/apps")
    assert (gone.base_sha, gone.head_sha) == (None, sha)
    forge.open_pr(REPO, "manifest-bot/dev/apps", "main", "t", "body <!-- m -->")
    pr = forge.observe(REPO, "main", "manifest-bot/dev/apps", "<!-- m").pr
    assert pr is not None and pr.head_sha == sha


def test_commit_keeps_the_file_mode(tmp_path: Path) -> None:
    path = seed_repo(tmp_path, "r", {"run.sh": "echo 1\n"}, bare=False)
    git(path, "checkout", "-q", "main")
    (path / "run.sh").chmod(0o755)  # the work tree agrees with the index: nothing uncommitted
    git(path, "update-index", "--chmod=+x", "run.sh")
    git(path, "-c", "user.name=A", "-c", "user.email=a@x", "commit", "-qm", "exec")
    forge = LocalGitForge(tmp_path)
    head = forge.branch_head("r", "main")
    assert head is not None
    new = forge.commit_files(
        "r", "main", parent=head, changes=[FileChange("run.sh", b"echo 2\n")], message="m", expected_head=head
    )
    assert git(path, "ls-tree", new, "run.sh").startswith("100755 blob")


def test_set_and_delete_branch(forge: LocalGitForge) -> None:
    base = forge.branch_head(REPO, "main")
    assert base is not None
    forge.set_branch(REPO, "copy", base, expected_head=None)
    assert forge.branch_head(REPO, "copy") == base
    with pytest.raises(Conflict):
        forge.set_branch(REPO, "copy", base, expected_head=None)
    forge.delete_branch(REPO, "copy")
    forge.delete_branch(REPO, "copy")  # missing is fine
    assert forge.branch_head(REPO, "copy") is None


def test_commits_between_lists_every_author_oldest_first(forge: LocalGitForge) -> None:
    base = forge.branch_head(REPO, "main")
    assert base is not None
    forge.commit_files(
        REPO, "b", parent=base, changes=[FileChange("a", b"1")], message="bot", expected_head=None
    )
    human_commit(forge, REPO, "b", {"a": "2"}, who="Alice")
    head = forge.branch_head(REPO, "b")
    assert head is not None
    commits = forge.commits_between(REPO, base, head)
    assert [c.author_login for c in commits] == ["manifest-bot[bot]", "Alice"]
    assert forge.changed_files(REPO, base, head) == ["a"]


def test_pr_lifecycle_records(forge: LocalGitForge, tmp_path: Path) -> None:
    base = forge.branch_head(REPO, "main")
    assert base is not None
    head = forge.commit_files(
        REPO,
        "mb/dev/g",
        parent=base,
        changes=[FileChange("apps/api.yaml", b"image: api:2.0\n")],
        message="m",
        expected_head=None,
    )
    pr = forge.open_pr(REPO, "mb/dev/g", "main", "bump", "body <!-- mark -->", labels=["deps"])
    assert (pr.number, pr.state, pr.head_sha, pr.labels, pr.mergeable) == (1, "open", head, ("deps",), True)
    assert pr.url == "local://acme/manifests/pulls/1"  # the full name, as promotion replies link it
    with pytest.raises(Conflict, match="already open"):  # as GitHub's 422 and GitLab's 409
        forge.open_pr(REPO, "mb/dev/g", "main", "again", "b")
    assert forge.find_pr(REPO, "mb/dev/g", "<!-- mark -->") == pr
    assert forge.find_pr(REPO, "mb/dev/g", "<!-- other -->") is None
    assert forge.find_pr(REPO, "mb/dev/other") is None

    updated = forge.update_pr(REPO, 1, PrUpdate(title="new title", draft=True))
    assert (updated.title, updated.body, updated.draft) == ("new title", "body <!-- mark -->", True)

    cid = forge.comment(REPO, 1, "/manifest-bot rebase", author="alice")
    forge.react(REPO, 1, cid, Reaction.SEEN)
    forge.react(REPO, 1, cid, Reaction.SEEN)  # idempotent
    with pytest.raises(NotFound):
        forge.react(REPO, 1, "999", Reaction.DONE)
    forge.close_pr(REPO, 1, comment="closing")
    record = forge.pr_record(REPO, 1)
    assert record["state"] == "closed"
    assert [(c["author"], c["body"]) for c in record["comments"]] == [
        ("alice", "/manifest-bot rebase"),
        ("manifest-bot[bot]", "closing"),
    ]
    assert record["comments"][0]["reactions"] == [{"user": "manifest-bot[bot]", "content": "eyes"}]
    assert forge.find_pr(REPO, "mb/dev/g") is None
    assert forge.last_pr(REPO, "mb/dev/g", "<!-- mark -->") == forge.get_pr(REPO, 1)  # any state
    assert forge.last_pr(REPO, "mb/dev/g", "<!-- other -->") is None
    forge.reopen_pr(REPO, 1)
    assert forge.get_pr(REPO, 1).state == "open"
    stored = json.loads(forge.repo_path(REPO).with_name(forge.repo_path(REPO).name + ".prs.json").read_text())
    assert stored["prs"]["1"]["title"] == "new title"


def test_merge_squash_and_conflict(forge: LocalGitForge) -> None:
    base = forge.branch_head(REPO, "main")
    assert base is not None
    head = forge.commit_files(
        REPO,
        "f",
        parent=base,
        changes=[FileChange("apps/api.yaml", b"image: api:2.0\n")],
        message="m",
        expected_head=None,
    )
    forge.open_pr(REPO, "f", "main", "bump api", "b")
    with pytest.raises(Conflict):
        forge.merge_pr(REPO, 1, "squash", expected_head=base)
    assert forge.merge_pr(REPO, 1, "squash", expected_head=head)
    assert forge.read_file(REPO, "apps/api.yaml", "main") == b"image: api:2.0\n"
    assert forge.get_pr(REPO, 1).state == "merged"

    # a second PR that conflicts with what just landed
    forge.commit_files(
        REPO,
        "g",
        parent=base,
        changes=[FileChange("apps/api.yaml", b"image: api:3.0\n")],
        message="m",
        expected_head=None,
    )
    pr = forge.open_pr(REPO, "g", "main", "bump api again", "b")
    assert pr.mergeable is False
    with pytest.raises(Conflict):
        forge.merge_pr(REPO, pr.number, "merge", expected_head=None)


def _merged_pr(forge: LocalGitForge) -> str:
    base = forge.branch_head(REPO, "main")
    assert base is not None
    change = [FileChange("apps/api.yaml", b"image: api:2.0\n")]
    head = forge.commit_files(REPO, "bump", parent=base, changes=change, message="m", expected_head=None)
    forge.open_pr(REPO, "bump", "main", "bump api", "b")
    return head


def test_a_merge_into_the_checked_out_branch_moves_its_work_tree(tmp_path: Path) -> None:
    """The bot merges into `main` while a person has it checked out; their next `git commit -a`
    keeps the merged change (before, the work tree and index stayed behind and the commit
    reverted the PR)."""
    work = seed_repo(tmp_path, REPO, FILES, bare=False)
    forge = LocalGitForge(tmp_path)
    head = _merged_pr(forge)
    assert forge.merge_pr(REPO, 1, "squash", expected_head=head)
    assert (work / "apps/api.yaml").read_text() == "image: api:2.0\n"
    assert git(work, "status", "--porcelain") == ""
    (work / "README.md").write_text("hello\n")
    git(work, "-c", "user.name=Alice", "-c", "user.email=a@example.com", "commit", "-q", "-a", "-m", "docs")
    assert forge.read_file(REPO, "apps/api.yaml", "main") == b"image: api:2.0\n"
    assert forge.read_file(REPO, "README.md", "main") == b"hello\n"


def test_a_checked_out_branch_with_uncommitted_changes_is_not_moved(tmp_path: Path) -> None:
    work = seed_repo(tmp_path, REPO, FILES, bare=False)
    forge = LocalGitForge(tmp_path)
    head = _merged_pr(forge)
    before = forge.branch_head(REPO, "main")
    (work / "README.md").write_text("work in progress\n")
    dirty = "branch main is checked out with uncommitted changes; commit or stash"
    with pytest.raises(ValidationFailed, match=dirty):
        forge.merge_pr(REPO, 1, "squash", expected_head=head)
    assert forge.branch_head(REPO, "main") == before
    assert forge.get_pr(REPO, 1).state == "open"
    assert (work / "README.md").read_text() == "work in progress\n"
    with pytest.raises(ValidationFailed, match="branch main is checked out; it is not deleted"):
        forge.delete_branch(REPO, "main")
    # an untracked file where the merge writes one: refused before anything moves
    git(work, "checkout", "-q", "--", "README.md")
    (work / "apps/new.yaml").write_text("mine\n")
    change = [FileChange("apps/new.yaml", b"theirs\n")]
    second = forge.commit_files(REPO, "add", parent=before, changes=change, message="m", expected_head=None)
    forge.open_pr(REPO, "add", "main", "add", "b")
    with pytest.raises(ValidationFailed, match="work tree cannot follow"):
        forge.merge_pr(REPO, 2, "squash", expected_head=second)
    assert forge.branch_head(REPO, "main") == before
    assert (work / "apps/new.yaml").read_text() == "mine\n"


def test_permissions_default_map_and_file(forge: LocalGitForge, tmp_path: Path) -> None:
    strict = LocalGitForge(
        tmp_path, permissions={"boss": Permission.ADMIN}, default_permission=Permission.READ
    )
    assert forge.permission(REPO, "anyone") is Permission.WRITE
    assert strict.permission(REPO, "boss") is Permission.ADMIN
    assert strict.permission(REPO, "anyone") is Permission.READ
    path = forge.repo_path(REPO)
    (path.with_name(path.name + ".prs.json")).write_text(
        json.dumps({"next_number": 1, "prs": {}, "permissions": {"anyone": "maintain"}})
    )
    assert strict.permission(REPO, "anyone") is Permission.MAINTAIN


def test_concurrent_pr_records_lose_nothing(forge: LocalGitForge) -> None:
    base = forge.branch_head(REPO, "main")
    assert base is not None
    branches = [f"b{i}" for i in range(12)]
    for b in branches:
        forge.set_branch(REPO, b, base, expected_head=None)
    with ThreadPoolExecutor(max_workers=6) as pool:
        prs = list(pool.map(lambda b: forge.open_pr(REPO, b, "main", b, "body"), branches))
    assert sorted(p.number for p in prs) == list(range(1, 13))
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda n: forge.comment(REPO, n, f"c{n}"), range(1, 13)))
    assert all(len(forge.pr_record(REPO, n)["comments"]) == 1 for n in range(1, 13))


def test_write_back_to_a_remote_with_lease(tmp_path: Path) -> None:
    remote = seed_repo(tmp_path / "remote", "origin", {"app.yaml": "image: a:1\n"})
    clone_root = tmp_path / "clones"
    clone_root.mkdir()
    subprocess_git = git  # readability
    subprocess_git(clone_root, "clone", "-q", "--bare", str(remote), "origin.git")
    forge = LocalGitForge(clone_root, push_remote=str(remote))
    base = forge.branch_head("origin", "main")
    assert base is not None
    new = forge.commit_files(
        "origin",
        "main",
        parent=base,
        changes=[FileChange("app.yaml", b"image: a:2\n")],
        message="bump",
        expected_head=base,
    )
    assert git(remote, "rev-parse", "main") == new

    # someone else pushes to the remote: our stale lease loses, the local mirror catches up
    other = LocalGitForge(tmp_path / "remote")
    theirs = other.commit_files(
        "origin",
        "main",
        parent=new,
        changes=[FileChange("app.yaml", b"image: a:3\n")],
        message="theirs",
        expected_head=new,
    )
    with pytest.raises(Conflict):
        forge.commit_files(
            "origin",
            "main",
            parent=new,
            changes=[FileChange("app.yaml", b"image: a:4\n")],
            message="stale",
            expected_head=new,
        )
    assert git(remote, "rev-parse", "main") == theirs
    assert forge.branch_head("origin", "main") == theirs


def test_factory_builds_the_local_forge(tmp_path: Path) -> None:
    from bot.errors import SettingsError
    from bot.forges.factory import build_forge
    from bot.settings import Settings

    settings = Settings(bot_login="our-bot")
    built = build_forge("demo", "local", settings, root=str(tmp_path), permissions={"eve": "read"})
    assert isinstance(built, LocalGitForge)
    assert (built.info.name, built.info.bot_login) == ("demo", "our-bot")
    seed_repo(tmp_path, "r", {"a": "b"})
    assert built.permission("r", "eve") is Permission.READ
    with pytest.raises(SettingsError, match="root"):
        build_forge("demo", "local", settings)
