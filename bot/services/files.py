"""Which files of the manifest repo an intent edits, at one base commit.

- explicit paths are taken as written (a missing one is an error when it is read);
- globs (``*``, ``?``, ``[...]``, ``**`` for any number of directories) are matched against
  ``forge.list_tree`` at the base;
- no files at all means auto-discovery: every ``*.yaml``/``*.yml`` in the tree is scanned for a
  reference the intent selects (an image, a marker, or a chart of a chart key's name;
  ``bot.services.scans``: each file's scan is kept by its content,
  here and for every worker), limited to the target's ``discover.include`` globs;
- ``discover.exclude`` globs remove files from either list.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.chart_names import is_chart, name_of
from bot.core.globs import glob_regex, is_glob
from bot.core.images import canonical_name
from bot.core.intents import UpdateIntent
from bot.core.ports import Forge
from bot.errors import ManifestError
from bot.services.scans import DEFAULT_CACHE, ScanCache
from bot.store.scans import FileScan

__all__ = ["ScanCache", "glob_regex", "is_glob", "resolve_files", "skipped_in_lane"]


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


def _uses(found: FileScan, intent: UpdateIntent) -> bool:
    """Whether a scanned file names what the intent selects: its marker, its image, or (a chart
    key) a chart of its name, which the engine's selection then tells apart."""
    if intent.marker:
        return intent.marker in found.markers
    if is_chart(intent.image):
        return name_of(intent.image) in found.charts
    return canonical_name(intent.image) in found.images


def _candidates(forge: Forge, intent: UpdateIntent, base_sha: str, cache: ScanCache | None) -> set[str]:
    if not intent.files:
        files = (cache or DEFAULT_CACHE).files(forge, intent.repo, base_sha)
        included = [glob_regex(p.lstrip("/")) for p in intent.discover_include]
        return {
            path
            for path, found in files.items()
            if _uses(found, intent) and (not included or any(r.match(path) for r in included))
        }
    explicit = {p.lstrip("/") for p in intent.files if not is_glob(p)}
    patterns: Sequence[str] = [p.lstrip("/") for p in intent.files if is_glob(p)]
    if patterns:
        tree = forge.list_tree(intent.repo, base_sha)
        for pattern in patterns:
            regex = glob_regex(pattern)
            explicit.update(path for path in tree if regex.match(path))
    return explicit
