"""Which files of the manifest repo an intent edits, at one base commit.

- explicit paths are taken as written (a missing one is an error when it is read);
- globs (``*``, ``?``, ``[...]``, ``**`` for any number of directories) are matched against
  ``forge.list_tree`` at the base;
- no files at all means auto-discovery: every ``*.yaml``/``*.yml`` in the tree is scanned for a
  reference the intent selects, limited to the target's ``discover.include`` globs;
- ``discover.exclude`` globs remove files from either list.

Auto-discovery reads every YAML file of the tree in one ``read_many`` (one forge call where the
forge batches reads). Scans are cached per (forge, repo, base sha), so a burst of groups on one
base reads each file once. A file that cannot be read is skipped with its reason recorded
(``ScanCache.skipped``); one over the YAML budget (an alias or merge-key bomb) is remembered by
its content (``BAD_FILES``) and not parsed again until it changes.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from bot.core import manifests as engine
from bot.core.images import canonical_name
from bot.core.intents import UpdateIntent
from bot.core.manifests.budget import BudgetExceeded
from bot.core.manifests.model import Reference
from bot.core.ports import Forge
from bot.errors import ManifestError
from bot.services.reads import read_many

log = logging.getLogger(__name__)

_GLOB_CHARS = frozenset("*?[")
_YAML_SUFFIXES = (".yaml", ".yml")


class BadFiles:
    """Bounded memory of file contents over the YAML budget: sha256 of the bytes → the error.

    A retry (or another group, or a new base where the file did not change) is refused at once
    instead of parsing the file again; a changed file is a new key and is parsed afresh."""

    def __init__(self, max_entries: int = 1024) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[bytes, str] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, data: bytes, path: str) -> None:
        """Raise the remembered error when ``data`` was over the budget before."""
        with self._lock:
            reason = self._data.get(hashlib.sha256(data).digest())
        if reason is not None:
            raise BudgetExceeded(f"{reason} (unchanged since it was refused)", file=path, line=None, steps=0)

    def remember(self, data: bytes, error: BudgetExceeded) -> None:
        with self._lock:
            self._data[hashlib.sha256(data).digest()] = error.reason
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)


BAD_FILES = BadFiles()


def load_and_scan(raw: bytes, path: str, bad: BadFiles = BAD_FILES) -> tuple[Reference, ...]:
    """The references of one file's bytes; ManifestError when it cannot be read (remembered by
    content when it is over the YAML budget)."""
    bad.check(raw, path)
    try:
        return tuple(engine.scan(engine.load_text(raw, path), path))
    except BudgetExceeded as exc:
        bad.remember(raw, exc)
        raise


def is_glob(pattern: str) -> bool:
    return any(c in _GLOB_CHARS for c in pattern)


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """``**/`` matches any number of directories, ``*`` and ``?`` never cross a ``/``."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]+/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


@dataclass(frozen=True, slots=True)
class _Scan:
    found: dict[str, tuple[Reference, ...]]
    skipped: dict[str, ManifestError]


class ScanCache:
    """Bounded cache of the references found in each YAML file at a base commit."""

    def __init__(self, max_bases: int = 16) -> None:
        self.max_bases = max_bases
        self._data: OrderedDict[tuple[str, str, str], _Scan] = OrderedDict()
        self._lock = threading.Lock()

    def references(self, forge: Forge, repo: str, base_sha: str) -> dict[str, tuple[Reference, ...]]:
        return self._scan(forge, repo, base_sha).found

    def skipped(self, forge: Forge, repo: str, base_sha: str) -> dict[str, ManifestError]:
        """The YAML files discovery could not read at ``base_sha``, with the error for each."""
        return self._scan(forge, repo, base_sha).skipped

    def _scan(self, forge: Forge, repo: str, base_sha: str) -> _Scan:
        key = (forge.info.name, repo, base_sha)
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        yaml_paths = [p for p in forge.list_tree(repo, base_sha) if p.endswith(_YAML_SUFFIXES)]
        scan = _Scan({}, {})
        for path, raw in read_many(forge, repo, yaml_paths, base_sha).items():
            if raw is None:
                continue  # listed but not readable as a file (e.g. a submodule entry)
            try:
                refs = load_and_scan(raw, path)
            except ManifestError as exc:  # not a file we would edit; explicit paths still fail
                scan.skipped[path] = exc
                log.debug("discovery skips %s: %s", path, exc)
                continue
            if refs:
                scan.found[path] = refs
        with self._lock:
            self._data[key] = scan
            while len(self._data) > self.max_bases:
                self._data.popitem(last=False)
        return scan


DEFAULT_CACHE = ScanCache()


def _selected(intent: UpdateIntent, ref: Reference) -> bool:
    if intent.marker:
        return ref.marker == intent.marker
    return canonical_name(ref.image) == canonical_name(intent.image)


def resolve_files(
    forge: Forge, intent: UpdateIntent, base_sha: str, *, cache: ScanCache | None = None
) -> list[str]:
    """The sorted paths the intent edits at ``base_sha``, less those its ``exclude`` globs match."""
    return sorted(p for p in _candidates(forge, intent, base_sha, cache) if not _excluded(intent, p))


def skipped_in_lane(
    forge: Forge, intent: UpdateIntent, base_sha: str, *, cache: ScanCache | None = None
) -> dict[str, ManifestError]:
    """Files a discovering intent would have searched but could not read (none for listed files)."""
    if intent.files:
        return {}
    skipped = (cache or DEFAULT_CACHE).skipped(forge, intent.repo, base_sha)
    included = [glob_regex(p.lstrip("/")) for p in intent.discover_include]
    return {
        path: err
        for path, err in skipped.items()
        if (not included or any(r.match(path) for r in included)) and not _excluded(intent, path)
    }


def _excluded(intent: UpdateIntent, path: str) -> bool:
    return any(glob_regex(p.lstrip("/")).match(path) for p in intent.exclude)


def _candidates(forge: Forge, intent: UpdateIntent, base_sha: str, cache: ScanCache | None) -> set[str]:
    if not intent.files:
        refs = (cache or DEFAULT_CACHE).references(forge, intent.repo, base_sha)
        included = [glob_regex(p.lstrip("/")) for p in intent.discover_include]
        return {
            path
            for path, found in refs.items()
            if (not included or any(r.match(path) for r in included))
            and any(_selected(intent, r) for r in found)
        }
    explicit = {p.lstrip("/") for p in intent.files if not is_glob(p)}
    patterns: Sequence[str] = [p.lstrip("/") for p in intent.files if is_glob(p)]
    if patterns:
        tree = forge.list_tree(intent.repo, base_sha)
        for pattern in patterns:
            regex = glob_regex(pattern)
            explicit.update(path for path in tree if regex.match(path))
    return explicit
