"""Commit signing for the local forge: git's own ``commit-tree -S`` — as Flux and Argo CD Image
Updater sign their commits — with an SSH key (``gpg.format=ssh``, ``user.signingkey`` = the
private key file, what ``ssh-keygen -Y sign`` reads) or an OpenPGP key (``gpg.format=openpgp``:
the armored secret key file is imported once into a keyring of this process's own, a private
``GNUPGHOME`` removed at exit, and ``user.signingkey`` is its fingerprint).

The key is a file the operator provides (never logged: messages name the setting, not the key).
It must sign without a passphrase: a worker has no one to type it. ``check`` signs
a throw-away commit in a temporary repository, so a key that cannot sign (missing, unreadable,
group-readable, encrypted, not a private key) is an error when the forge is built — at worker
start-up and in ``manifest-bot check-config`` — never a silent unsigned commit later.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from bot.errors import SettingsError
from bot.logs import redact

SigningFormat = Literal["ssh", "openpgp"]
FORMATS: tuple[str, ...] = get_args(SigningFormat)
CHECK_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Signing:
    """How the local forge signs: ``key_file`` is an SSH private key (``ssh``) or an OpenPGP
    secret key (``openpgp``), without a passphrase. Build it with ``load_signing``."""

    key_file: Path
    format: SigningFormat = "ssh"
    #: openpgp: the fingerprint to sign with and the private keyring holding it
    fingerprint: str | None = None
    gnupghome: Path | None = field(default=None, repr=False)

    def git_config(self) -> list[str]:
        """``git -c`` arguments (before the subcommand) that make ``commit-tree -S`` sign."""
        key = self.fingerprint if self.format == "openpgp" else str(self.key_file)
        return ["-c", f"gpg.format={self.format}", "-c", f"user.signingkey={key}"]

    def env(self) -> Mapping[str, str]:
        """Environment git needs to sign (the private keyring for openpgp)."""
        return {"GNUPGHOME": str(self.gnupghome)} if self.gnupghome is not None else {}

    def check(self, forge: str) -> None:
        """Sign one commit in a temporary repository; SettingsError saying why when it fails."""
        where = f"local forge {forge!r}: signing_key_file"
        if not self.key_file.is_file():
            raise SettingsError(f"{where}: no such file")
        if not os.access(self.key_file, os.R_OK):
            raise SettingsError(f"{where}: not readable by this process")
        with tempfile.TemporaryDirectory(prefix="mb-sign-") as tmp:
            env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
            env |= self.env()
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
                f"{where}: the key cannot sign commits ({_reason(proc.stderr)}); {_NEEDS[self.format]}"
            )


_NEEDS = {
    "ssh": "it must be an SSH private key without a passphrase, readable only by the bot's user (chmod 600)",
    "openpgp": "it must be an OpenPGP secret key without a passphrase (gpg --armor --export-secret-keys)",
}


def load_signing(forge: str, key_file: str, format: str = "ssh") -> Signing:
    """The forge's signing, checked by signing one commit (SettingsError saying why it cannot)."""
    if format not in FORMATS:
        raise SettingsError(
            f"local forge {forge!r}: signing_format {format!r} is not one of {', '.join(FORMATS)}"
        )
    path = Path(key_file)
    signing = Signing(path) if format == "ssh" else _import_openpgp(forge, path)
    signing.check(forge)
    return signing


#: keyrings this process made, by the SHA-256 of the key file they hold: a config reload (every
#: forge is rebuilt) signs with the keyring it has rather than leaving one more behind until exit
_KEYRINGS: dict[str, tuple[Path, str]] = {}
_KEYRINGS_LOCK = threading.Lock()


def _import_openpgp(forge: str, key_file: Path) -> Signing:
    """Import the secret key into a private keyring (one per key for the process, removed at
    exit); its fingerprint."""
    where = f"local forge {forge!r}: signing_key_file"
    if not key_file.is_file():
        raise SettingsError(f"{where}: no such file")
    try:
        digest = hashlib.sha256(key_file.read_bytes()).hexdigest()
    except OSError as exc:
        raise SettingsError(f"{where}: cannot be read ({exc.strerror})") from None
    with _KEYRINGS_LOCK:
        if digest not in _KEYRINGS:
            _KEYRINGS[digest] = _new_keyring(where, key_file)
        home, fingerprint = _KEYRINGS[digest]
    return Signing(key_file, "openpgp", fingerprint, home)


def _new_keyring(where: str, key_file: Path) -> tuple[Path, str]:
    home = Path(tempfile.mkdtemp(prefix="mb-gpg-"))  # 0700; short: gpg-agent's socket lives in it
    atexit.register(_remove_keyring, home)
    env = {**os.environ, "GNUPGHOME": str(home), "LC_ALL": "C"}
    gpg = ["gpg", "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""]
    try:
        imported = subprocess.run(
            [*gpg, "--import", str(key_file)],
            env=env,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            timeout=CHECK_TIMEOUT_S,
            check=False,
        )
        listed = subprocess.run(
            ["gpg", "--batch", "--with-colons", "--list-secret-keys"],
            env=env,
            capture_output=True,
            timeout=CHECK_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise SettingsError(f"{where}: gpg could not run to import the key: {type(exc).__name__}") from None
    fingerprints = _secret_fingerprints(listed.stdout.decode("utf-8", "replace"))
    if imported.returncode != 0 or not fingerprints:
        raise SettingsError(
            f"{where}: no OpenPGP secret key could be imported from it ({_reason(imported.stderr)}); "
            f"{_NEEDS['openpgp']}"
        )
    return home, fingerprints[0]


def _secret_fingerprints(colons: str) -> list[str]:
    """The primary keys' fingerprints in ``gpg --with-colons --list-secret-keys`` output."""
    out: list[str] = []
    primary = False
    for line in colons.splitlines():
        kind, *fields = line.split(":")
        if kind == "sec":
            primary = True
        elif kind == "fpr" and primary and len(fields) > 8:
            out.append(fields[8])
            primary = False
    return out


def _remove_keyring(home: Path) -> None:
    """Stop the keyring's gpg-agent and remove it (at exit)."""
    env = {**os.environ, "GNUPGHOME": str(home)}
    # without gpgconf the agent stops by itself once its socket is gone
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            ["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True, timeout=10, check=False
        )
    shutil.rmtree(home, ignore_errors=True)


def _reason(stderr: bytes) -> str:
    """What git and ssh-keygen said, on one line (their words name the key's path, never its bytes)."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return redact("; ".join(lines[:4])) or "no output"
