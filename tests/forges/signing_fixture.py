"""SSH signing keys made with the real ``ssh-keygen`` in a temp dir, and ``git verify-commit``
against an allowed-signers file, as a reader of the manifest repo would check the bot's commits."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

needs_ssh_keygen = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed"
)


@dataclass(frozen=True)
class SshKey:
    private: Path
    allowed_signers: Path  # "manifest-bot@localhost <public key>", git's gpg.ssh.allowedSignersFile


def make_key(directory: Path, name: str = "signing", passphrase: str = "") -> SshKey:
    directory.mkdir(parents=True, exist_ok=True)
    private = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "manifest-bot", "-f", str(private)],
        check=True,
        capture_output=True,
    )
    public = (directory / f"{name}.pub").read_text().strip()
    allowed = directory / f"{name}.allowed_signers"
    allowed.write_text(f"manifest-bot@localhost {public}\n")
    return SshKey(private, allowed)


def verify(repo: Path, sha: str, key: SshKey) -> subprocess.CompletedProcess[str]:
    """``git verify-commit`` of ``sha`` trusting only ``key`` (returncode 0: a good signature)."""
    return subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            f"gpg.ssh.allowedSignersFile={key.allowed_signers}",
            "verify-commit",
            "--raw",
            sha,
        ],
        capture_output=True,
        text=True,
        check=False,
    )


needs_gpg = pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed")


@dataclass(frozen=True)
class GpgKey:
    secret_file: Path  # armored secret key, what signing_key_file names
    home: Path  # a keyring holding the public key: the reader's, for git verify-commit


@contextmanager
def gpg_key(directory: Path, passphrase: str = "") -> Iterator[GpgKey]:
    """An ed25519 signing key made with the real ``gpg`` in a short-named keyring (gpg-agent's
    socket must fit in a path), its agent stopped and keyring removed afterwards."""
    home = Path(tempfile.mkdtemp(prefix="mbt-gpg-"))
    env = {**os.environ, "GNUPGHOME": str(home)}
    gpg = ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", passphrase]
    try:
        uid = "manifest-bot <manifest-bot@localhost>"
        subprocess.run(
            [*gpg, "--quick-gen-key", uid, "ed25519", "sign", "never"],
            env=env,
            check=True,
            capture_output=True,
        )
        secret = subprocess.run(
            [*gpg, "--armor", "--export-secret-keys"], env=env, check=True, capture_output=True
        ).stdout
        directory.mkdir(parents=True, exist_ok=True)
        secret_file = directory / "signing.asc"
        secret_file.write_bytes(secret)
        yield GpgKey(secret_file, home)
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)


def verify_gpg(repo: Path, sha: str, key: GpgKey) -> subprocess.CompletedProcess[str]:
    """``git verify-commit`` of ``sha`` with the reader's keyring holding ``key``."""
    env = {**os.environ, "GNUPGHOME": str(key.home)}
    return subprocess.run(
        ["git", "-C", str(repo), "verify-commit", sha], capture_output=True, text=True, check=False, env=env
    )
