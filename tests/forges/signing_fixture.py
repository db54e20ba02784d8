"""SSH signing keys made with the real ``ssh-keygen`` in a temp dir, and ``git verify-commit``
against an allowed-signers file, as a reader of the manifest repo would check the bot's commits."""

from __future__ import annotations

import shutil
import subprocess
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
