"""The local forge's pull-request records: one small JSON file beside each repository.

Every read-modify-write holds an exclusive ``flock`` on a sibling ``.lock`` file and replaces the
JSON atomically (write to a temporary file, fsync, ``os.replace``), so concurrent workers and a
crash mid-write never leave a half-written or lost record.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.errors import ForgeError, NotFound

Record = dict[str, Any]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class PrStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _load(self) -> dict[str, Any]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"next_number": 1, "next_comment": 1, "prs": {}}
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ForgeError(f"{self.path.name}: PR records are not valid JSON ({exc.msg})") from None
        if not isinstance(data, dict) or not isinstance(data.get("prs"), dict):
            raise ForgeError(f"{self.path.name}: PR records have an unexpected shape")
        return data

    def _save(self, data: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=self.path.name, suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    # --- public ------------------------------------------------------------------------------
    def read(self) -> dict[str, Any]:
        with self._locked():
            return self._load()

    def all(self) -> list[Record]:
        return [self.read()["prs"][k] for k in sorted(self.read()["prs"], key=int)]

    def get(self, number: int) -> Record:
        record = self.read()["prs"].get(str(number))
        if record is None:
            raise NotFound(f"no pull request #{number}")
        return record

    def create(self, fields: Record) -> Record:
        with self._locked():
            data = self._load()
            number = int(data["next_number"])
            data["next_number"] = number + 1
            stamp = now_iso()
            record = {"number": number, "created_at": stamp, "updated_at": stamp, "comments": [], **fields}
            data["prs"][str(number)] = record
            self._save(data)
            return record

    def update(self, number: int, change: Callable[[Record, dict[str, Any]], None]) -> Record:
        """Apply ``change(record, data)`` under the lock; stamps ``updated_at``."""
        with self._locked():
            data = self._load()
            record = data["prs"].get(str(number))
            if record is None:
                raise NotFound(f"no pull request #{number}")
            change(record, data)
            record["updated_at"] = now_iso()
            self._save(data)
            return record
