"""What discovery found in the YAML files of a manifest repo, at one base commit (the scans
behind ``bot.services.files``' auto-discovery).

Every ``*.yaml``/``*.yml`` of the tree is scanned for image references. A file's scan depends on
its bytes and its path only, so it is kept by blob sha and path: in this process (a new base costs
only the files it changed) and, with a ``ScanStore``, in Redis for every worker process (a cold
worker pays only for files no worker has read). The forge is asked for the files nobody has
scanned, in reads of bounded size. A file that cannot be read is skipped with its reason recorded
(``ScanCache.skipped``); one over the YAML budget (an alias or merge-key bomb) is remembered by
its content (``BAD_FILES``) and not parsed again until it changes.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

import bot
from bot.core import images
from bot.core import manifests as engine
from bot.core.manifests.budget import BudgetExceeded
from bot.core.manifests.loader import check_size
from bot.core.manifests.model import Reference
from bot.core.ports import Blob, BlobLister, Forge
from bot.errors import ManifestError
from bot.services.reads import read_many
from bot.store.scans import FORMAT, FileKey, FileScan, ScanStore, is_object_id

log = logging.getLogger(__name__)

_YAML_SUFFIXES = (".yaml", ".yml")
#: one discovery read asks for at most this many files and listed bytes
READ_FILES = 1000
READ_BYTES = 16 * 1024 * 1024


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
    """The image references of one file's bytes (chart references left out: a chart's name is not
    an image's); ManifestError when it cannot be read (remembered by content when it is over the
    YAML budget)."""
    return tuple(r for r in scan_all(raw, path, bad) if not r.is_chart)


def scan_all(raw: bytes, path: str, bad: BadFiles = BAD_FILES) -> tuple[Reference, ...]:
    """The image and chart references of one file's bytes (what discovery keeps per file)."""
    bad.check(raw, path)
    try:
        return tuple(engine.scan(engine.load_text(raw, path), path))
    except BudgetExceeded as exc:
        bad.remember(raw, exc)
        raise


@dataclass(frozen=True, slots=True)
class _Scan:
    found: dict[str, FileScan]  # files with references
    skipped: dict[str, ManifestError]


@dataclass(slots=True)
class ScanStats:
    """How the files of the bases scanned so far were answered (tests and benchmarks read it)."""

    local: int = 0  # this process had scanned the same content at the same path
    shared: int = 0  # another process had (the Redis store)
    scanned: int = 0  # read from the forge and scanned here


class ScanCache:
    """The references found in each YAML file at a base commit, kept at three levels:

    - per base (forge, repo, base sha), in this process: a burst of groups on one base lists the
      tree once (``max_bases``);
    - per file (blob sha, path), in this process: a new base reads and scans only the files it
      changed (``max_files``; 0 keeps none);
    - per file in Redis (``store``), shared by every worker process: a cold worker reads and scans
      only files no worker has scanned.

    A forge whose listing gives blob shas (``BlobLister``) is asked for the misses only; another
    one (or a listing with anything but full object ids) has every YAML file read, keyed by the sha
    git would give the bytes, and only parsing is saved."""

    def __init__(
        self, max_bases: int = 16, *, max_files: int = 20_000, store: ScanStore | None = None
    ) -> None:
        self.max_bases = max_bases
        self.max_files = max_files
        self.store = store
        self.stats = ScanStats()
        self._data: OrderedDict[tuple[str, str, str], _Scan] = OrderedDict()
        self._files: OrderedDict[FileKey, FileScan] = OrderedDict()
        self._lock = threading.Lock()

    def references(self, forge: Forge, repo: str, base_sha: str) -> dict[str, tuple[Reference, ...]]:
        return {path: found.refs for path, found in self._scan(forge, repo, base_sha).found.items()}

    def files(self, forge: Forge, repo: str, base_sha: str) -> dict[str, FileScan]:
        """The scans of the YAML files with references at ``base_sha`` (the caller must not change
        the dict)."""
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
        if isinstance(forge, BlobLister):
            listed = {p: b for p, b in forge.list_blobs(repo, base_sha).items() if _is_yaml(p)}
        else:
            listed = {p: Blob("") for p in forge.list_tree(repo, base_sha) if _is_yaml(p)}
        if all(is_object_id(blob.sha) for blob in listed.values()):
            files = self._listed(forge, repo, base_sha, listed)
        else:  # no usable blob shas (another forge, a fake): the bytes give the key
            files = self._read(forge, repo, base_sha, list(listed))
        scan = _Scan({}, {})
        for path, found in files.items():
            if found.error is not None:  # not a file we would edit; explicit paths still fail
                scan.skipped[path] = found.error
            elif found.refs:
                scan.found[path] = found
        with self._lock:
            self._data[key] = scan
            while len(self._data) > self.max_bases:
                self._data.popitem(last=False)
        return scan

    def _listed(self, forge: Forge, repo: str, base_sha: str, blobs: dict[str, Blob]) -> dict[str, FileScan]:
        """Scans of listed files: known ones by blob sha, the others read (in bounded chunks) and
        scanned; a file too large to be a manifest is refused by its listed size, unread."""
        keys = {path: FileKey(blob.sha, path) for path, blob in blobs.items()}
        out = self._known(keys)
        fresh: dict[FileKey, FileScan] = {}
        unread = []
        for path in (p for p in keys if p not in out):
            size = blobs[path].size
            try:
                check_size(size or 0, path)
            except ManifestError as exc:
                fresh[keys[path]] = FileScan(error=exc)
                continue
            unread.append(path)
        for chunk in _chunks(unread, blobs):
            for path, raw in read_many(forge, repo, chunk, base_sha).items():
                if raw is not None:  # listed but not readable as a file: not ours to scan
                    fresh[keys[path]] = scan_file(raw, path)
        self._remember(fresh)
        out.update((file.path, found) for file, found in fresh.items())
        return out

    def _read(self, forge: Forge, repo: str, base_sha: str, paths: list[str]) -> dict[str, FileScan]:
        """Scans of files read whole (a forge that lists no blob shas): parsing is what is saved."""
        raws = {p: raw for p, raw in read_many(forge, repo, paths, base_sha).items() if raw is not None}
        keys = {path: FileKey(git_blob_sha(raw), path) for path, raw in raws.items()}
        out = self._known(keys)
        fresh = {keys[p]: scan_file(raws[p], p) for p in keys if p not in out}
        self._remember(fresh)
        out.update((file.path, found) for file, found in fresh.items())
        return out

    def _known(self, keys: dict[str, FileKey]) -> dict[str, FileScan]:
        """path → scan for the files this process or the shared store has scanned before."""
        out: dict[str, FileScan] = {}
        with self._lock:
            for path, key in keys.items():
                found = self._files.get(key)
                if found is not None:
                    self._files.move_to_end(key)
                    out[path] = found
            self.stats.local += len(out)
        rest = {path: key for path, key in keys.items() if path not in out}
        if rest and self.store is not None:
            shared = self.store.get_many(list(rest.values()))
            out.update((path, shared[key]) for path, key in rest.items() if key in shared)
            self._keep(shared)
            with self._lock:
                self.stats.shared += len(shared)
        return out

    def _remember(self, fresh: dict[FileKey, FileScan]) -> None:
        with self._lock:
            self.stats.scanned += len(fresh)
        self._keep(fresh)
        if fresh and self.store is not None:
            self.store.put_many(fresh)

    def _keep(self, scans: dict[FileKey, FileScan]) -> None:
        if self.max_files <= 0:
            return
        with self._lock:
            self._files.update(scans)
            while len(self._files) > self.max_files:
                self._files.popitem(last=False)


def scan_file(raw: bytes, path: str) -> FileScan:
    """One file's references, or the ManifestError that keeps it from being scanned."""
    try:
        return FileScan(scan_all(raw, path))
    except ManifestError as exc:
        log.debug("discovery skips %s: %s", path, exc)
        return FileScan(error=exc)


def git_blob_sha(raw: bytes) -> str:
    """The object id git gives these bytes as a blob (SHA-1), the key a listing would give."""
    return hashlib.sha1(b"blob %d\0" % len(raw) + raw, usedforsecurity=False).hexdigest()


def _is_yaml(path: str) -> bool:
    return path.endswith(_YAML_SUFFIXES)


def _chunks(paths: list[str], blobs: dict[str, Blob]) -> Iterator[list[str]]:
    """``paths`` in reads of at most ``READ_FILES`` files and ``READ_BYTES`` listed bytes (a
    single larger file is a read of its own): discovery holds one chunk's bytes at a time."""
    chunk: list[str] = []
    size = 0
    for path in paths:
        more = blobs[path].size or 0
        if chunk and (len(chunk) >= READ_FILES or size + more > READ_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(path)
        size += more
    if chunk:
        yield chunk


@lru_cache(maxsize=1)
def scanner_version() -> str:
    """A fingerprint of the code that turns a file's bytes into scans (``bot.core.manifests``,
    ``bot.core.images``, this module) and of PyYAML's version: a shared scan another release
    made is never read, since a changed scanner may find other references in the same bytes."""
    digest = hashlib.sha256(f"{FORMAT}:{yaml.__version__}:{bot.__version__}".encode())
    sources = [*sorted(Path(engine.__file__).parent.glob("*.py")), Path(images.__file__), Path(__file__)]
    for source in sources:
        try:
            digest.update(source.name.encode() + b"\0" + source.read_bytes())
        except OSError:  # no sources (a frozen build): the release version stands for them
            digest.update(source.name.encode())
    return digest.hexdigest()[:12]


DEFAULT_CACHE = ScanCache()
