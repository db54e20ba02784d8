"""Commit signing for the local forge: git's own ``commit-tree -S`` with an SSH key
(``gpg.format=ssh``, ``user.signingkey`` = the private key file, what ``ssh-keygen -Y sign``
reads) — as Flux and Argo CD Image Updater sign their commits.

The key is a file the operator provides (never copied, never logged: messages name the setting,
not the key). It must sign without a passphrase: a worker has no one to type it. ``check`` signs
a throw-away commit in a temporary repository, so a key that cannot sign (missing, unreadable,
group-readable, encrypted, not a private key) is an error when the forge is built — at worker
start-up and in ``manifest-bot check-config`` — never a silent unsigned commit later.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.errors import SettingsError
from bot.logs import redact

SigningFormat = Literal["ssh"]
CHECK_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Signing:
    """How the local forge signs: ``key_file`` is an SSH private key without a passphrase."""

    key_file: Path
    format: SigningFormat = "ssh"

    def git_config(self) -> list[str]:
        """``git -c`` arguments (before the subcommand) that make ``commit-tree -S`` sign."""
        return ["-c", f"gpg.format={self.format}", "-c", f"user.signingkey={self.key_file}"]

    def check(self, forge: str) -> None:
        """Sign one commit in a temporary repository; SettingsError saying why when it fails."""
        where = f"local forge {forge!r}: signing_key_file"
        if not self.key_file.is_file():
            raise SettingsError(f"{where}: no such file")
        if not os.access(self.key_file, os.R_OK):
            raise SettingsError(f"{where}: not readable by this process")
        with tempfile.TemporaryDirectory(prefix="mb-sign-") as tmp:
            env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
            env |= {k: "manifest-bot" for k in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME")}
            env |= {k: "manifest-bot@localhost" for k in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL")}
            git = ["git", "-C", tmp]
            try:
                subprocess.run([*git, "init", "-q"], env=env, check=True, capture_output=True)
                tree = (
                    subprocess.run([*git, "write-tree"], env=env, check=True, capture_output=True)
                    .stdout.decode()
                    .strip()
                )
                proc = subprocess.run(
                    [*git, *self.git_config(), "commit-tree", "-S", tree, "-m", "signing check"],
                    env=env,
                    capture_output=True,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # no terminal to ask a passphrase on
                    timeout=CHECK_TIMEOUT_S,
                    check=False,
                )
            except (OSError, subprocess.SubprocessError) as exc:
                problem = type(exc).__name__
                raise SettingsError(f"{where}: git could not run to check the key: {problem}") from None
        if proc.returncode != 0:
            raise SettingsError(
                f"{where}: the key cannot sign commits ({_reason(proc.stderr)}); it must be an SSH "
                "private key without a passphrase, readable only by the bot's user (chmod 600)"
            )


def _reason(stderr: bytes) -> str:
    """What git and ssh-keygen said, on one line (their words name the key's path, never its bytes)."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return redact("; ".join(lines[:4])) or "no output"
