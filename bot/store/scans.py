"""What discovery found in one manifest file, shared by every worker process through Redis.

``<prefix>:scan:<version>:<blob sha>:<path digest>`` holds one file's scan (compact orjson): the
image and chart references found in it, or why it cannot be read as a manifest. The key is the file's
content (git's blob sha) and its path, so an entry is never stale: the same bytes at the same path
scan the same way. The path is part of the key because the scanner reads the file name (CI files)
and every reference and error names it; ``version`` is the scanner's fingerprint
(``bot.services.scans.scanner_version``), so one release never reads another's scans.

Only image and chart references, paths and parse errors are stored, never file contents or credentials.
Entries live ``ttl_s`` (a cache: an expired one costs one re-scan) and hold at most
``max_entry_bytes`` (a larger scan is not shared). Reading any number of files is one MGET,
writing one pipeline. An entry that does not decode or validate is a miss, never an error, and
so is a Redis that does not answer: the caller scans for itself.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, get_args

import orjson
import redis

from bot.core.chart_names import name_of
from bot.core.images import canonical_name
from bot.core.manifests.budget import BudgetExceeded
from bot.core.manifests.model import Reference, RefKind
from bot.errors import ManifestError
from bot.settings import Settings

log = logging.getLogger(__name__)

#: bump when the stored layout changes
FORMAT = 2
DEFAULT_TTL_S = 24 * 3600
DEFAULT_MAX_ENTRY_BYTES = 32 * 1024
_KINDS = frozenset(get_args(RefKind))
_BLOB = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_REF_FIELDS = 11
#: SET of every key to its value with the TTL (the last argument): a thousand entries in one
#: command cost a third of a pipeline of SETs (packing each command is what costs, in Python)
_SET_ALL = "for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[i], 'EX', ARGV[#ARGV]) end return #KEYS"
_WRITE_CHUNK = 1000


def is_object_id(value: object) -> bool:
    """A full git object id (SHA-1 or SHA-256 hex): what a key's ``blob`` must be."""
    return isinstance(value, str) and _BLOB.fullmatch(value) is not None


class FileKey(NamedTuple):
    """One file's content (git blob sha) at one path."""

    blob: str
    path: str


@dataclass(frozen=True, slots=True)
class FileScan:
    """The references found in one file, or the error that kept it from being scanned."""

    refs: tuple[Reference, ...] = ()
    error: ManifestError | None = None
    #: the canonical names of the images, the names of the charts (``bot.core.chart_names.name_of``
    #: of their keys) and the setter markers of ``refs``: what discovery selects files by, worked
    #: out once per file content rather than once per intent and base
    images: frozenset[str] = field(init=False, compare=False, repr=False)
    charts: frozenset[str] = field(init=False, compare=False, repr=False)
    markers: frozenset[str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        images = frozenset(canonical_name(r.image) for r in self.refs if not r.is_chart)
        object.__setattr__(self, "images", images)
        charts = frozenset(name_of(r.image) for r in self.refs if r.is_chart)
        object.__setattr__(self, "charts", charts)
        object.__setattr__(self, "markers", frozenset(r.marker for r in self.refs if r.marker))


class ScanStore:
    def __init__(
        self,
        conn: redis.Redis,
        settings: Settings,
        *,
        version: str,
        ttl_s: int = DEFAULT_TTL_S,
        max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES,
    ) -> None:
        self.conn = conn
        self.settings = settings
        self.version = version
        self.ttl_s = ttl_s
        self.max_entry_bytes = max_entry_bytes
        self._set_all = conn.register_script(_SET_ALL)

    def key(self, file: FileKey) -> str:
        path = hashlib.blake2b(file.path.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
        return self.settings.key("scan", self.version, file.blob, path)

    def get_many(self, files: Sequence[FileKey]) -> dict[FileKey, FileScan]:
        """The stored scans among ``files``, in one MGET; anything unreadable is left out."""
        wanted = [f for f in dict.fromkeys(files) if is_object_id(f.blob)]
        if not wanted:
            return {}
        try:
            values = self.conn.mget([self.key(f) for f in wanted])
        except redis.RedisError as exc:
            log.warning("shared scans unavailable, scanning here: %s", exc)
            return {}
        out: dict[FileKey, FileScan] = {}
        for file, raw in zip(wanted, values, strict=True):
            if raw is None:
                continue
            scan = decode(raw, file.path, self.max_entry_bytes)
            if scan is None:
                log.info("ignoring an unreadable shared scan of %s", file.path)
                continue
            out[file] = scan
        return out

    def put_many(self, scans: Mapping[FileKey, FileScan]) -> int:
        """Store ``scans`` in one pipeline; how many were stored (too large ones are not)."""
        entries = {}
        for file, scan in scans.items():
            raw = encode(scan)
            if is_object_id(file.blob) and len(raw) <= self.max_entry_bytes:
                entries[self.key(file)] = raw
        if not entries:
            return 0
        keys, values = list(entries), list(entries.values())
        try:
            with self.conn.pipeline(transaction=False) as pipe:
                for start in range(0, len(keys), _WRITE_CHUNK):
                    chunk = slice(start, start + _WRITE_CHUNK)
                    self._set_all(keys=keys[chunk], args=[*values[chunk], self.ttl_s], client=pipe)
                pipe.execute()
        except redis.RedisError as exc:  # a cache: a full or read-only Redis costs re-scans only
            log.warning("could not share %d scans: %s", len(entries), exc)
            return 0
        return len(entries)


# --- the stored form -----------------------------------------------------------------------------
# {"v": FORMAT, "r": [[doc, path, kind, line, column, image, tag, digest, marker, [start, end, …],
#                      repository]]}
# or {"v": FORMAT, "e": [reason, line, steps]} (steps: an int for a YAML bomb, else null)


def encode(scan: FileScan) -> bytes:
    if scan.error is not None:
        steps = scan.error.steps if isinstance(scan.error, BudgetExceeded) else None
        return orjson.dumps({"v": FORMAT, "e": [scan.error.reason, scan.error.line, steps]})
    refs = [
        [
            r.doc,
            r.path,
            r.kind,
            r.line,
            r.column,
            r.image,
            r.tag,
            r.digest,
            r.marker,
            _flat(r.spans),
            r.repository,
        ]
        for r in scan.refs
    ]
    return orjson.dumps({"v": FORMAT, "r": refs})


def decode(raw: bytes, path: str, max_bytes: int = DEFAULT_MAX_ENTRY_BYTES) -> FileScan | None:
    """The scan stored in ``raw`` for the file at ``path``; None when it is not one we wrote."""
    if len(raw) > max_bytes:
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("v") != FORMAT:
        return None
    if "e" in data:
        return _error(data["e"], path)
    items = data.get("r")
    if not isinstance(items, list):
        return None
    refs = []
    for item in items:
        ref = _reference(item, path)
        if ref is None:
            return None
        refs.append(ref)
    return FileScan(tuple(refs))


def _flat(spans: tuple[tuple[int, int], ...]) -> list[int]:
    return [n for span in spans for n in span]


def _error(item: Any, path: str) -> FileScan | None:
    if not (isinstance(item, list) and len(item) == 3):
        return None
    reason, line, steps = item
    if type(reason) is not str or not _int_or_none(line) or not _int_or_none(steps):
        return None
    if steps is not None:
        return FileScan(error=BudgetExceeded(reason, file=path, line=line, steps=steps))
    return FileScan(error=ManifestError(reason, file=path, line=line))


def _reference(item: Any, path: str) -> Reference | None:
    # exact type checks (``type(x) is int`` also refuses a bool): this runs once per reference
    # of every file a cold worker takes from the store
    if type(item) is not list or len(item) != _REF_FIELDS:
        return None
    doc, where, kind, line, column, image, tag, digest, marker, spans, repository = item
    if type(doc) is not int or type(line) is not int or type(column) is not int:
        return None
    if type(where) is not str or type(image) is not str or kind not in _KINDS:
        return None
    for text in (tag, digest, marker, repository):
        if text is not None and type(text) is not str:
            return None
    if type(spans) is not list or len(spans) % 2 or any(type(n) is not int for n in spans):
        return None
    pairs = tuple(zip(spans[::2], spans[1::2], strict=True))
    return Reference(path, doc, where, kind, line, column, image, tag, digest, marker, pairs, repository)


def _int_or_none(value: Any) -> bool:
    return value is None or type(value) is int
