"""Where the routing config comes from: the central file and each manifest repo's own file.

- ``ConfigSource.central()`` reads ``settings.config_path``; it re-reads only when the file's
  bytes change (checked by size and mtime, then by content hash).
- ``ConfigSource.for_repo(forge, repo)`` merges the repo's ``.manifest-bot.yaml`` (the path the
  central file names in ``repo_files``) read at the base branch head, cached by that commit sha.
  A repo without the file gets the central config. An invalid repo file raises ConfigError whose
  problems name ``<repo>/<path>:<line>``.
- ``forge_options(forge_config, settings)`` resolves the config's secret *references*
  (``env:``, ``file:``, ``setting:``) into the options ``bot.forges.factory.build_forge`` takes.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bot import logs
from bot.core.config import Config, GitHubForge, GitLabForge, LocalForge, load_config, merge_repo_config
from bot.core.ports import Forge
from bot.errors import ConfigError, NotFound, SettingsError
from bot.settings import Settings


def resolve_ref(ref: str, settings: Settings, environ: Mapping[str, str] | None = None) -> str:
    """The secret a reference names; SettingsError says which reference is empty or unreadable."""
    kind, _, name = ref.partition(":")
    value: Any = None
    if kind == "env":
        value = (os.environ if environ is None else environ).get(name)
    elif kind == "file":
        try:
            value = Path(name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SettingsError(f"{ref}: cannot read the file: {exc.strerror}") from None
    elif kind == "setting":
        value = getattr(settings, name, None)
        value = value.get_secret_value() if hasattr(value, "get_secret_value") else value
    if value is None or value == "":
        raise SettingsError(f"{ref}: no value (the routing config references it for a forge)")
    logs.add_secrets([str(value)])  # this process now holds it: never let it reach a log or a PR
    return str(value)


def forge_options(
    forge: GitHubForge | GitLabForge | LocalForge,
    settings: Settings,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Keyword options for ``build_forge(forge.name, forge.kind, settings, **options)``."""
    common: dict[str, Any] = {"bot_login": forge.bot_login} if forge.bot_login else {}
    return common | _kind_options(forge, settings, environ)


def _kind_options(
    forge: GitHubForge | GitLabForge | LocalForge, settings: Settings, environ: Mapping[str, str] | None
) -> dict[str, Any]:
    if isinstance(forge, LocalForge):
        options: dict[str, Any] = {
            "root": forge.path,
            "permissions": dict(forge.permissions),
            "default_permission": forge.default_permission,
        }
        if forge.teams:
            options["teams"] = {team: list(users) for team, users in forge.teams.items()}
        if forge.push_remote:
            options["push_remote"] = forge.push_remote
        if "git_timeout_s" in forge.model_fields_set:
            options["git_timeout_s"] = forge.git_timeout_s
        return options
    if isinstance(forge, GitLabForge):
        options = {"url": forge.url}
        if forge.token:
            options["token"] = resolve_ref(forge.token, settings, environ)
        return options
    options = {"api_url": forge.api_url}
    if forge.app_id is not None and forge.private_key:
        options["app_id"] = forge.app_id
        options["private_key"] = resolve_ref(forge.private_key, settings, environ)
        if forge.installation_id is not None:
            options["installation_id"] = forge.installation_id
    if forge.token:
        options["token"] = resolve_ref(forge.token, settings, environ)
    return options


class ConfigSource:
    def __init__(self, settings: Settings, forge: Callable[[str], Forge], *, max_repos: int = 256) -> None:
        self.settings = settings
        self._forge = forge
        self._max = max_repos
        self._lock = threading.Lock()
        self._central: tuple[tuple[int, int], str, Config] | None = None
        self._repos: OrderedDict[tuple[str, str, str, str], Config | ConfigError] = OrderedDict()

    def central(self) -> Config:
        path = self.settings.config_path
        if path is None:
            raise ConfigError("no routing config: set MANIFEST_BOT_CONFIG_PATH")
        try:
            stat = path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            with self._lock:
                if self._central is not None and self._central[0] == stamp:
                    return self._central[2]
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the routing config: {exc.strerror}") from None
        digest = hashlib.sha256(raw).hexdigest()
        with self._lock:
            if self._central is not None and self._central[1] == digest:
                self._central = (stamp, digest, self._central[2])
                return self._central[2]
        config = load_config(_decode(raw, str(path)), str(path))
        with self._lock:
            self._central = (stamp, digest, config)
        return config

    def for_repo(self, forge_name: str, repo: str, branch: str | None = None) -> Config:
        """The config for targets in one manifest repo (central + the repo's allowed overrides)."""
        central = self.central()
        if central.repo_files is None:
            return central
        targets = central.targets_in_repo(forge_name, repo)
        branch = branch or (targets[0].branch if targets else "main")
        forge = self._forge(forge_name)
        sha = forge.branch_head(repo, branch)
        if sha is None:
            return central
        assert self._central is not None
        key = (self._central[1], forge_name, repo, sha)
        with self._lock:
            if key in self._repos:
                self._repos.move_to_end(key)
                return _unwrap(self._repos[key])
        outcome = self._merge(central, forge, forge_name, repo, sha)
        with self._lock:
            self._repos[key] = outcome
            while len(self._repos) > self._max:
                self._repos.popitem(last=False)
        return _unwrap(outcome)

    def _merge(self, central: Config, forge: Forge, name: str, repo: str, sha: str) -> Config | ConfigError:
        assert central.repo_files is not None
        path = central.repo_files.path
        label = f"{repo}/{path}"
        try:
            raw = forge.read_file(repo, path, sha)
        except NotFound:
            return central
        try:
            return merge_repo_config(central, _decode(raw, label), label, forge=name, repo=repo)
        except ConfigError as exc:
            return exc


def _decode(raw: bytes, label: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{label}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _unwrap(outcome: Config | ConfigError) -> Config:
    if isinstance(outcome, ConfigError):
        raise outcome
    return outcome
