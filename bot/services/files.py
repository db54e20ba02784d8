"""Which files of the manifest repo an intent edits, at one base commit.

- explicit paths are taken as written (a missing one is an error when it is read);
- globs (``*``, ``?``, ``[...]``, ``**`` for any number of directories) are matched against
  ``forge.list_tree`` at the base;
- no files at all means auto-discovery: every ``*.yaml``/``*.yml`` in the tree is scanned for a
  reference the intent selects, limited to the target's ``discover.include`` globs;
- ``discover.exclude`` globs remove files from either list.

Auto-discovery reads every YAML file of the tree in one ``read_many`` (one forge call where the
forge batches reads). Scans are cached per (forge, repo, base sha), so a burst of groups on one
base reads each file once.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache

from bot.core import manifests as engine
from bot.core.images import canonical_name
from bot.core.intents import UpdateIntent
from bot.core.manifests.model import Reference
from bot.core.ports import Forge
from bot.errors import ManifestError
from bot.services.reads import read_many

_GLOB_CHARS = frozenset("*?[")
_YAML_SUFFIXES = (".yaml", ".yml")


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


class ScanCache:
    """Bounded cache of the references found in each YAML file at a base commit."""

    def __init__(self, max_bases: int = 16) -> None:
        self.max_bases = max_bases
        self._data: OrderedDict[tuple[str, str, str], dict[str, tuple[Reference, ...]]] = OrderedDict()
        self._lock = threading.Lock()

    def references(self, forge: Forge, repo: str, base_sha: str) -> dict[str, tuple[Reference, ...]]:
        key = (forge.info.name, repo, base_sha)
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        yaml_paths = [p for p in forge.list_tree(repo, base_sha) if p.endswith(_YAML_SUFFIXES)]
        found: dict[str, tuple[Reference, ...]] = {}
        for path, raw in read_many(forge, repo, yaml_paths, base_sha).items():
            if raw is None:
                continue  # listed but not readable as a file (e.g. a submodule entry)
            try:
                refs = tuple(engine.scan(engine.load_text(raw, path), path))
            except ManifestError:
                continue  # a file we cannot read is not one we would edit; explicit paths still fail
            if refs:
                found[path] = refs
        with self._lock:
            self._data[key] = found
            while len(self._data) > self.max_bases:
                self._data.popitem(last=False)
        return found


DEFAULT_CACHE = ScanCache()


def _selected(intent: UpdateIntent, ref: Reference) -> bool:
    if intent.marker:
        return ref.marker == intent.marker
    return canonical_name(ref.image) == canonical_name(intent.image)


def resolve_files(
    forge: Forge, intent: UpdateIntent, base_sha: str, *, cache: ScanCache | None = None
) -> list[str]:
    """The sorted paths the intent edits at ``base_sha``, less those its ``exclude`` globs match."""
    excluded = [glob_regex(p.lstrip("/")) for p in intent.exclude]
    return sorted(
        p for p in _candidates(forge, intent, base_sha, cache) if not any(r.match(p) for r in excluded)
    )


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
