"""The local forge signs every commit it makes with the configured SSH key (git's
``gpg.format=ssh``), and a key that cannot sign stops it from being built."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.core.ports import FileChange
from bot.errors import SettingsError
from bot.forges.local.adapter import LocalGitForge, build_local
from bot.settings import Settings
from tests.forges.local_fixture import git, seed_repo
from tests.forges.signing_fixture import (
    SshKey,
    gpg_key,
    make_key,
    needs_gpg,
    needs_ssh_keygen,
    verify,
    verify_gpg,
)

pytestmark = needs_ssh_keygen

REPO = "acme/manifests"
FILES = {"apps/api.yaml": "image: api:1.0\n", "README.md": "hi\n"}


def build_with(tmp_path: Path, key_file: Path) -> LocalGitForge:
    """The routing config's local forge (``signing_key_file`` set), built as a worker builds it."""
    if not (tmp_path / "git").exists():
        seed_repo(tmp_path / "git", REPO, FILES)
    root = str(tmp_path / "git")
    forge = build_local("local", Settings.model_validate({}), root=root, signing_key_file=str(key_file))
    assert isinstance(forge, LocalGitForge)
    return forge


def signed_forge(tmp_path: Path, key: SshKey) -> LocalGitForge:
    return build_with(tmp_path, key.private)


def open_pr(forge: LocalGitForge, branch: str) -> int:
    base = forge.branch_head(REPO, "main") or ""
    forge.commit_files(
        REPO,
        branch,
        parent=base,
        changes=[FileChange("apps/api.yaml", b"image: api:1.1\n")],
        message="bump api\n",
        expected_head=None,
    )
    return forge.open_pr(REPO, branch, "main", "bump api", "body").number


@pytest.mark.parametrize("method", ["merge", "squash"])
def test_branch_commits_and_merges_verify_with_the_key(tmp_path: Path, method: str) -> None:
    key = make_key(tmp_path / "keys")
    forge = signed_forge(tmp_path, key)
    number = open_pr(forge, "manifest-bot/dev/api")
    head = forge.branch_head(REPO, "manifest-bot/dev/api") or ""
    path = forge.repo_path(REPO)
    checked = verify(path, head, key)
    assert checked.returncode == 0, checked.stderr
    assert 'Good "git" signature for manifest-bot@localhost' in checked.stderr
    forge.merge_pr(REPO, number, method, head)  # type: ignore[arg-type]
    merged = forge.get_pr(REPO, number)
    assert merged.state == "merged"
    merge_sha = forge.branch_head(REPO, "main") or ""
    assert merge_sha != head
    checked = verify(path, merge_sha, key)
    assert checked.returncode == 0, checked.stderr


def test_another_key_does_not_verify_and_unsigned_forges_stay_unsigned(tmp_path: Path) -> None:
    key = make_key(tmp_path / "keys")
    stranger = make_key(tmp_path / "other", "stranger")
    forge = signed_forge(tmp_path, key)
    open_pr(forge, "signed")
    assert verify(forge.repo_path(REPO), forge.branch_head(REPO, "signed") or "", stranger).returncode != 0
    plain = LocalGitForge(tmp_path / "git")
    open_pr(plain, "unsigned")
    unsigned = plain.branch_head(REPO, "unsigned") or ""
    assert verify(plain.repo_path(REPO), unsigned, key).returncode != 0
    assert "gpgsig" not in git(plain.repo_path(REPO), "cat-file", "commit", unsigned)


def test_an_encrypted_key_is_refused_when_the_forge_is_built(tmp_path: Path) -> None:
    key = make_key(tmp_path / "keys", passphrase="correct horse")
    with pytest.raises(SettingsError) as err:
        build_with(tmp_path, key.private)
    text = str(err.value)
    assert "local forge 'local': signing_key_file: the key cannot sign commits" in text
    assert "without a passphrase" in text
    assert "correct horse" not in text
    assert key.private.read_text().splitlines()[1] not in text  # never the key's bytes


def test_a_key_others_can_read_is_refused(tmp_path: Path) -> None:
    key = make_key(tmp_path / "keys")
    os.chmod(key.private, 0o644)
    with pytest.raises(SettingsError, match=r"cannot sign commits.*(too open|UNPROTECTED)"):
        build_with(tmp_path, key.private)


def test_a_missing_key_or_a_file_that_is_no_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="signing_key_file: no such file"):
        build_with(tmp_path, tmp_path / "nope")
    junk = tmp_path / "junk"
    junk.write_text("not a key\n")
    junk.chmod(0o600)
    with pytest.raises(SettingsError, match="cannot sign commits"):
        build_with(tmp_path, junk)


@needs_gpg
def test_an_openpgp_key_signs_branch_commits_and_merges(tmp_path: Path) -> None:
    with gpg_key(tmp_path / "keys") as key:
        seed_repo(tmp_path / "git", REPO, FILES)
        settings = Settings.model_validate({})
        root = str(tmp_path / "git")
        forge = build_local(
            "local", settings, root=root, signing_key_file=str(key.secret_file), signing_format="openpgp"
        )
        assert isinstance(forge, LocalGitForge)
        number = open_pr(forge, "manifest-bot/dev/api")
        head = forge.branch_head(REPO, "manifest-bot/dev/api") or ""
        forge.merge_pr(REPO, number, "merge", head)
        for sha in (head, forge.branch_head(REPO, "main") or ""):
            checked = verify_gpg(forge.repo_path(REPO), sha, key)
            assert checked.returncode == 0, checked.stderr
            assert 'Good signature from "manifest-bot <manifest-bot@localhost>"' in checked.stderr


@needs_gpg
def test_a_reload_signs_with_the_keyring_it_has(tmp_path: Path) -> None:
    """Every config reload rebuilds the forges: the same key file reuses the process's keyring
    for it (one keyring per key, not one more per reload)."""
    with gpg_key(tmp_path / "keys") as key:
        seed_repo(tmp_path / "git", REPO, FILES)
        settings = Settings.model_validate({})
        builds = [
            build_local(
                "local",
                settings,
                root=str(tmp_path / "git"),
                signing_key_file=str(key.secret_file),
                signing_format="openpgp",
            )
            for _ in range(3)
        ]
        homes = {f.signing.gnupghome for f in builds if isinstance(f, LocalGitForge) and f.signing}
        assert len(homes) == 1 and None not in homes
        forge = builds[-1]
        assert isinstance(forge, LocalGitForge)
        open_pr(forge, "manifest-bot/dev/api")
        head = forge.branch_head(REPO, "manifest-bot/dev/api") or ""
        assert verify_gpg(forge.repo_path(REPO), head, key).returncode == 0


@needs_gpg
def test_an_openpgp_key_with_a_passphrase_or_no_key_is_refused(tmp_path: Path) -> None:
    seed_repo(tmp_path / "git", REPO, FILES)
    settings = Settings.model_validate({})
    root = str(tmp_path / "git")
    with gpg_key(tmp_path / "keys", passphrase="hunter2") as key:
        with pytest.raises(SettingsError, match="the key cannot sign commits") as err:
            build_local(
                "local", settings, root=root, signing_key_file=str(key.secret_file), signing_format="openpgp"
            )
        assert "hunter2" not in str(err.value)
    ssh = make_key(tmp_path / "ssh")  # an SSH key is no OpenPGP key
    with pytest.raises(SettingsError, match="no OpenPGP secret key could be imported"):
        build_local("local", settings, root=root, signing_key_file=str(ssh.private), signing_format="openpgp")
    with pytest.raises(SettingsError, match="signing_format 'x509' is not one of ssh, openpgp"):
        build_local("local", settings, root=root, signing_key_file=str(ssh.private), signing_format="x509")
