"""Registry credentials from a Docker ``config.json`` (``MANIFEST_BOT_DOCKER_CONFIG``).

Read: ``auths.<host>.auth`` (base64 ``user:password``), ``auths.<host>.username``/``password``, and
``auths.<host>.identitytoken`` (an OAuth2 refresh token: ACR, and anything ``docker login`` stored
one for). Keys may be written as ``ghcr.io``, ``https://ghcr.io`` or Docker Hub's
``https://index.docker.io/v1/``. ``credsStore``/``credHelpers`` run programs and are not used: put
the token under ``auths`` (see docs/setup.md for ECR, Artifact Registry and ACR).

The file is re-read whenever its modification time changes, so a sidecar that refreshes a
short-lived token in it is picked up without a restart. Every credential carries a ``source``
(``auths["ghcr.io"] in /etc/manifest-bot/config.json``) that errors name; the secret itself never
appears in a message or a repr.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.images import DOCKER_HUB
from bot.errors import SettingsError

_DOCKER_HUB_KEYS = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}


@dataclass(frozen=True, slots=True)
class Credential:
    source: str  # where it came from, for messages; "anonymous (...)" when there is none
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    identity_token: str | None = field(default=None, repr=False)

    @property
    def anonymous(self) -> bool:
        return self.password is None and self.identity_token is None

    @property
    def basic(self) -> tuple[str, str] | None:
        if self.username is not None and self.password is not None:
            return self.username, self.password
        return None


def config_key(key: str) -> str:
    """``https://index.docker.io/v1/`` → ``docker.io``; ``https://ghcr.io/`` → ``ghcr.io``."""
    host = key.strip().split("://", 1)[-1].split("/", 1)[0].lower()
    return DOCKER_HUB if host in _DOCKER_HUB_KEYS else host


class DockerConfig:
    """The ``auths`` of one config.json, re-read when the file changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._auths: dict[str, dict[str, Any]] = {}
        self._helpers = False

    def for_host(self, host: str) -> Credential:
        """The credential for a registry host as users name it (``docker.io``, ``ghcr.io``)."""
        if self.path is None:
            return Credential("anonymous (MANIFEST_BOT_DOCKER_CONFIG is not set)")
        auths, helpers = self._load()
        entry = auths.get(config_key(host))
        if entry is None:
            note = "; its credsStore/credHelpers are not used" if helpers else ""
            return Credential(f"anonymous (no auths entry for {host} in {self.path}{note})")
        return _credential(entry, f'auths["{host}"] in {self.path}')

    def _load(self) -> tuple[dict[str, dict[str, Any]], bool]:
        assert self.path is not None
        try:
            stat = self.path.stat()
        except OSError as exc:
            raise SettingsError(
                f"MANIFEST_BOT_DOCKER_CONFIG: cannot read {self.path}: {exc.strerror}"
            ) from None
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._auths, self._helpers = _parse(self.path)
                self._stamp = stamp
            return self._auths, self._helpers


def _parse(path: Path) -> tuple[dict[str, dict[str, Any]], bool]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SettingsError(
            f"MANIFEST_BOT_DOCKER_CONFIG: {path} is not a readable JSON file: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise SettingsError(f"MANIFEST_BOT_DOCKER_CONFIG: {path} must hold a JSON object")
    auths = data.get("auths") if isinstance(data.get("auths"), dict) else {}
    parsed = {config_key(k): v for k, v in auths.items() if isinstance(k, str) and isinstance(v, dict)}
    return parsed, bool(data.get("credsStore") or data.get("credHelpers"))


def _credential(entry: dict[str, Any], source: str) -> Credential:
    username, password = _text(entry.get("username")), _text(entry.get("password"))
    encoded = _text(entry.get("auth"))
    if encoded is not None:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise SettingsError(f"{source}: 'auth' is not base64 of user:password") from None
        user, sep, secret = decoded.partition(":")
        if not sep:
            raise SettingsError(f"{source}: 'auth' is not base64 of user:password")
        username, password = user, secret
    identity = _text(entry.get("identitytoken"))
    if identity is None and password is None:
        return Credential(f"anonymous ({source} holds no auth, password or identitytoken)")
    return Credential(source, username, password if identity is None else None, identity)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
