"""The tree listings the local forge has read, by repository and commit sha (never stale: a
commit's tree never changes), so reading files after listing the tree costs no second ``ls-tree``.

Bounded by how many files all kept listings hold together; the oldest listing goes first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from bot.core.ports import Blob

Listing = dict[str, Blob]
#: files across all kept listings (about 200 bytes each: a few 5,000-file repositories)
DEFAULT_MAX_FILES = 50_000


class Listings:
    def __init__(self, max_files: int = DEFAULT_MAX_FILES) -> None:
        self.max_files = max_files
        self._data: OrderedDict[tuple[str, str], Listing] = OrderedDict()
        self._files = 0
        self._lock = threading.Lock()

    def get(self, repo: str, commit: str, read: Callable[[], Listing]) -> Listing:
        """The listing of ``commit`` in ``repo`` (``read`` gives it when it is not kept). The
        caller must not change it."""
        key = (repo, commit)
        with self._lock:
            found = self._data.get(key)
            if found is not None:
                self._data.move_to_end(key)
                return found
        listing = read()
        with self._lock:
            if key not in self._data:
                self._data[key] = listing
                self._files += len(listing)
            while self._files > self.max_files and len(self._data) > 1:
                _, dropped = self._data.popitem(last=False)
                self._files -= len(dropped)
        return listing
