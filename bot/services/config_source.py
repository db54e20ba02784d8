"""Where the routing config comes from: the central file and each manifest repo's own file.

- ``ConfigSource.current()`` is the config in use. ``refresh()`` looks at the file (one ``stat``
  when it did not change: cheap enough for every job start) and, when its bytes changed, loads and
  validates the new text, including (when it replaces one in use) every secret reference it makes;
  a valid one replaces the config in use, an invalid one is *refused*: the old one stays, and the
  refusal (with every problem) is kept for the status page and logged once.
  ``refresh(force=True)`` (SIGHUP) reads the file even when its size and mtime look the same.
- ``ConfigSource.repo_patch(forge, repo, sha)`` reads a manifest repo's ``.manifest-bot.yaml``
  (the path the central file names in ``repo_files``) at one commit, cached by that sha: the keys
  the central file allows, and a problem line for every other (``bot.core.config.repo_file``).
  ``at(...)`` is the config with it applied, ``pr_config(group_key, images)`` a group's PR options
  at a base commit (the PR lifecycle calls it), ``for_targets(...)`` the config with the file of
  every repo an event reaches, read at each base branch head (the planner uses it).
- ``forge_options(forge_config, settings)`` resolves the config's secret *references*
  (``env:``, ``file:``, ``setting:``) into the options ``bot.forges.factory.build_forge`` takes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bot import logs
from bot.core.config import (
    Config,
    GitHubForge,
    GitLabForge,
    LocalForge,
    RepoPatch,
    apply_repo_patch,
    load_config,
    read_repo_file,
)
from bot.core.events import Delivery
from bot.core.keys import GroupKey
from bot.core.planning import reach
from bot.core.ports import Forge
from bot.core.pr_options import PrOptions
from bot.errors import BotError, ConfigError, NotFound, SettingsError
from bot.settings import Settings

log = logging.getLogger(__name__)


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
        if forge.signing_key_file:
            options["signing_key_file"] = forge.signing_key_file
            options["signing_format"] = forge.signing_format
        return options
    if isinstance(forge, GitLabForge):
        options = {"url": forge.url}
        if forge.token:
            options["token"] = resolve_ref(forge.token, settings, environ)
        return options
    options = {"api_url": forge.api_url}
    if "url" in forge.model_fields_set:  # else the forge derives it from api_url (Enterprise)
        options["web_url"] = forge.url
    if forge.app_id is not None and forge.private_key:
        options["app_id"] = forge.app_id
        options["private_key"] = resolve_ref(forge.private_key, settings, environ)
        if forge.installation_id is not None:
            options["installation_id"] = forge.installation_id
    if forge.token:
        options["token"] = resolve_ref(forge.token, settings, environ)
    return options


#: restored: the file is back to the config in use after a refusal (the refusal is over)
Outcome = Literal["unchanged", "loaded", "refused", "restored"]
Stamp = tuple[int, int, int]  # inode, mtime ns, size: a new file, a touched file or a resized one
RepoRef = tuple[str, str, str]  # forge name, repo, branch


@dataclass(frozen=True, slots=True)
class Refusal:
    """A routing config file that was read and not taken."""

    path: str
    digest: str  # sha256 of the refused bytes ("" when the file could not be read)
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Reload:
    """What one ``refresh`` did."""

    outcome: Outcome
    path: str
    config: Config | None  # the config in use after the call (None: the first load failed)
    digest: str  # sha256 of its file ("" with no config)
    previous: Config | None = None  # with "loaded": the config it replaced (None: the first load)
    previous_digest: str | None = None
    refusal: Refusal | None = None  # with "refused"


@dataclass(frozen=True, slots=True)
class _Loaded:
    config: Config
    digest: str


class ConfigSource:
    def __init__(
        self,
        settings: Settings,
        forge: Callable[[str], Forge],
        *,
        max_repos: int = 256,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self._forge = forge
        self._max = max_repos
        self._environ = environ
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None
        self._stamp: Stamp | None = None  # of the file last examined, taken or refused
        self._refusal: Refusal | None = None
        self._patches: OrderedDict[tuple[str, str, str, str], RepoPatch] = OrderedDict()
        self._last_patch: OrderedDict[RepoRef, RepoPatch] = OrderedDict()
        #: configs with one repo file applied, by (central digest, forge, repo, branch, sha)
        self._merged: OrderedDict[tuple[str, str, str, str, str], Config] = OrderedDict()

    # --- the central file ------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        if self.settings.config_path is None:
            raise ConfigError("no routing config: set MANIFEST_BOT_CONFIG_PATH")
        return self.settings.config_path

    def current(self) -> Config:
        """The config in use; the first call loads it (ConfigError when that fails)."""
        loaded = self._loaded
        if loaded is None:
            reload = self.refresh()
            if reload.config is None:
                raise _error(reload.refusal)
            return reload.config
        return loaded.config

    def central(self) -> Config:
        """The config after looking at the file (``refresh`` then ``current``)."""
        self.refresh()
        return self.current()

    @property
    def digest(self) -> str | None:
        """sha256 of the file the config in use was read from (None before the first load)."""
        loaded = self._loaded
        return loaded.digest if loaded is not None else None

    @property
    def refusal(self) -> Refusal | None:
        """The newest file, when it was refused (cleared once a valid one is taken)."""
        return self._refusal

    def refresh(self, *, force: bool = False) -> Reload:
        """Take the file when it changed and is valid; refuse it (keeping the old) when it is not."""
        path = self.path
        try:
            stat = path.stat()
        except OSError as exc:
            return self._refuse((0, 0, -1), "", [f"{path}: cannot read the routing config: {exc.strerror}"])
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if not force and stamp == self._stamp and self._loaded is not None:
            return self._unchanged()
        try:
            raw = path.read_bytes()
        except OSError as exc:
            return self._refuse(stamp, "", [f"{path}: cannot read the routing config: {exc.strerror}"])
        digest = hashlib.sha256(raw).hexdigest()
        loaded = self._loaded
        if loaded is not None and digest == loaded.digest:
            with self._lock:
                refused, self._stamp, self._refusal = self._refusal, stamp, None
            if refused is None:
                return self._unchanged()
            return Reload("restored", str(path), loaded.config, loaded.digest)
        if self._refusal is not None and digest == self._refusal.digest:
            self._stamp = stamp
            return self._unchanged()  # refused already: said once
        try:
            config = load_config(_decode(raw, str(path)), str(path))
            if loaded is not None:
                self._validate(config)
        except (ConfigError, SettingsError) as exc:
            return self._refuse(
                stamp, digest, list(exc.problems if isinstance(exc, ConfigError) else [str(exc)])
            )
        except (ValueError, RecursionError) as exc:  # a file the parser chokes on: refused, not fatal
            return self._refuse(stamp, digest, [f"{path}: cannot read the routing config: {exc!r}"])
        with self._lock:
            previous = self._loaded
            self._loaded = _Loaded(config, digest)
            self._stamp, self._refusal = stamp, None
            self._patches.clear()  # cached merges were made against the old central file
            self._merged.clear()
        return Reload(
            "loaded",
            str(path),
            config,
            digest,
            previous.config if previous else None,
            previous.digest if previous else None,
        )

    def _validate(self, config: Config) -> None:
        """Beyond the schema, for a config replacing one in use: every secret a forge references
        resolves (a new config naming an unset variable is refused before anything uses it). A
        first load leaves that to the forges' first use: a worker builds every forge at start and
        stops there, and a process that never reaches a forge does not need its secrets."""
        for forge in config.forges:
            forge_options(forge, self.settings, self._environ)

    def _unchanged(self) -> Reload:
        loaded = self._loaded
        assert loaded is not None
        return Reload("unchanged", str(self.path), loaded.config, loaded.digest)

    def _refuse(self, stamp: Stamp, digest: str, problems: list[str]) -> Reload:
        refusal = Refusal(str(self.path), digest, tuple(problems))
        with self._lock:
            already = self._refusal == refusal
            self._stamp, self._refusal = stamp, refusal
            loaded = self._loaded
        if loaded is None:
            return Reload("refused", refusal.path, None, "", refusal=refusal)  # current() raises it
        if already:
            return self._unchanged()
        return Reload("refused", refusal.path, loaded.config, loaded.digest, refusal=refusal)

    # --- manifest repos' own files -----------------------------------------------------------------
    def repo_patch(self, forge_name: str, repo: str, sha: str) -> RepoPatch:
        """What ``forge_name``/``repo``'s own file at commit ``sha`` sets (cached by sha)."""
        central = self.current()
        files = central.repo_files
        if files is None:
            return RepoPatch()
        key = (self.digest or "", forge_name, repo, sha)
        with self._lock:
            if key in self._patches:
                self._patches.move_to_end(key)
                return self._patches[key]
        label = f"{repo}/{files.path}"
        try:
            raw = self._forge(forge_name).read_file(repo, files.path, sha)
        except NotFound:
            patch = RepoPatch()
        else:
            try:
                patch = read_repo_file(central, _decode(raw, label), label, forge=forge_name, repo=repo)
            except ConfigError as exc:  # not UTF-8
                patch = RepoPatch(problems=(str(exc),))
        with self._lock:
            _remember(self._patches, key, patch, self._max)
        return patch

    def at(self, forge_name: str, repo: str, branch: str, sha: str | None) -> Config:
        """The config for targets on ``branch`` of one repo, with its file at ``sha`` applied
        (the central config alone when ``sha`` is None)."""
        central = self.current()
        if sha is None or central.repo_files is None:
            return central
        key = (self.digest or "", forge_name, repo, branch, sha)
        with self._lock:
            merged = self._merged.get(key)
        if merged is None:
            patch = self.repo_patch(forge_name, repo, sha)
            merged = apply_repo_patch(central, patch, forge=forge_name, repo=repo, branch=branch)
            with self._lock:
                _remember(self._merged, key, merged, _MAX_MERGED)
        return merged

    def repo_problems(self, forge_name: str, repo: str, sha: str) -> tuple[str, ...]:
        """What the repo's file at ``sha`` asks for and cannot have (() without repo files)."""
        if self.current().repo_files is None:
            return ()
        return self.repo_patch(forge_name, repo, sha).problems

    def pr_config(self, key: GroupKey, images: Sequence[str]) -> Callable[[str | None], PrOptions]:
        """The group's PR options now, at a base commit (``bot.services.lifecycle.PrConfig``)."""

        def options(base_sha: str | None) -> PrOptions:
            return self.at(key.forge, key.repo, key.base, base_sha).pr_for_group(key, images)

        return options

    def for_targets(self, where: Iterable[RepoRef]) -> Config:
        """The config with the file of every (forge, repo, branch) applied, each read at that
        branch's head now. A forge that fails to answer falls back to the last file this process
        read there; without one a temporary error propagates (a planning job must not ignore a
        repo's policy), and a repo that cannot be read at all is planned without its file (its
        reconciles fail and say why)."""
        config = self.current()
        if config.repo_files is None:
            return config
        for ref in sorted(set(where)):
            patch = self._head_patch(ref)
            if patch is not None:
                config = apply_repo_patch(config, patch, forge=ref[0], repo=ref[1], branch=ref[2])
        return config

    def for_deliveries(self, deliveries: Iterable[Delivery]) -> Config:
        """The config to plan ``deliveries`` with: the central one, with the own file of every
        manifest repo their events reach applied (read at each base branch head)."""
        config = self.current()
        if config.repo_files is None:
            return config
        where = {ref for delivery in deliveries for event in delivery.events for ref in reach(event, config)}
        return self.for_targets(where)

    def _head_patch(self, ref: RepoRef) -> RepoPatch | None:
        forge_name, repo, branch = ref
        try:
            sha = self._forge(forge_name).branch_head(repo, branch)
            patch = self.repo_patch(forge_name, repo, sha) if sha is not None else None
        except BotError as exc:
            with self._lock:
                fallback = self._last_patch.get(ref)
            if fallback is not None:
                log.warning("%s: using the last repo file read there (%s)", "/".join(ref), exc)
                return fallback
            if not exc.permanent:
                raise
            # the repo cannot be read at all (gone, no access): its groups' reconciles say so
            log.warning("%s: planning without its repo file (%s)", "/".join(ref), exc)
            return None
        if patch is not None:
            with self._lock:
                _remember(self._last_patch, ref, patch, self._max)
        return patch


#: merged configs kept (each shares every rule the repo file does not touch with the central one)
_MAX_MERGED = 64


def _remember(cache: OrderedDict[Any, Any], key: Any, patch: Any, limit: int) -> None:
    cache[key] = patch
    cache.move_to_end(key)
    while len(cache) > limit:
        cache.popitem(last=False)


def _error(refusal: Refusal | None) -> ConfigError:
    if refusal is None:
        return ConfigError("no routing config")
    problems = list(refusal.problems)
    if len(problems) == 1 and problems[0].startswith(f"{refusal.path}: "):
        return ConfigError(problems[0], problems)  # unreadable: say so plainly
    noun = "problem" if len(problems) == 1 else "problems"
    return ConfigError(f"{refusal.path}: {len(problems)} {noun} in the config", problems)


def _decode(raw: bytes, label: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{label}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
