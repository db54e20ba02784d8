"""The per-manifest-repo write lock: one writer per repository at a time.

``SET key token NX PX timeout`` takes it; a heartbeat thread extends it (compare-and-pexpire) while
the holder works, so a long reconcile keeps it and a killed worker loses it after ``timeout``.
Release is a compare-and-delete in Lua, so a holder whose lock expired can never delete a lock
someone else took since. Nobody blocks on it: a job that finds it held registers as a *waiter*
and returns; the holder's release hands back the waiters (atomically) so it can wake them at once.

``turn(lock, waiter, wake)`` is that protocol as one context manager, used by reconcile and by the
chat-ops command job alike::

    with turn(lock, group_key, wake) as held:
        if not held:
            return defer(lock.held_ms())  # the holder hands us back on release
        ...  # we hold the lock; on exit it is released and the other waiters are woken
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType

import redis

log = logging.getLogger(__name__)

_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""

#: delete the lock when we still own it, and hand back (and clear) the waiters in the same step
_RELEASE = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then
  return {0, {}}
end
redis.call('del', KEYS[1])
local waiters = redis.call('smembers', KEYS[2])
redis.call('del', KEYS[2])
return {1, waiters}
"""


class RepoLock:
    """A lock on one key with a random token; use ``acquire``/``release`` or ``with lock:``."""

    def __init__(self, conn: redis.Redis, key: str, *, timeout_s: float, heartbeat_s: float | None = None):
        self.conn = conn
        self.key = key
        self.waiters_key = f"{key}:waiters"
        self.timeout_ms = max(int(timeout_s * 1000), 100)
        self.heartbeat_s = heartbeat_s if heartbeat_s is not None else max(timeout_s / 3, 0.05)
        self.token = secrets.token_hex(16)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._extend = conn.register_script(_EXTEND)
        self._release = conn.register_script(_RELEASE)
        #: set when a heartbeat found the lock gone (expired and maybe taken): stop writing
        self.lost = threading.Event()

    # --- acquire / release -----------------------------------------------------------------------
    def acquire(self, *, heartbeat: bool = True) -> bool:
        """Take the lock without waiting; True when we hold it now. The token records when it was
        taken (``<random>@<ms since the epoch>``), so a lock held past any job's time can be told
        apart from a long one (``free_stale``)."""
        self.token = f"{secrets.token_hex(16)}@{int(time.time() * 1000)}"
        if not self.conn.set(self.key, self.token, nx=True, px=self.timeout_ms):
            return False
        if heartbeat:
            self._start_heartbeat()
        return True

    def add_waiter(self, member: str) -> None:
        """Ask the current holder to hand ``member`` back on release (see module docstring)."""
        self.conn.sadd(self.waiters_key, member)
        self.conn.pexpire(self.waiters_key, self.timeout_ms * 4)

    def remove_waiter(self, member: str) -> None:
        self.conn.srem(self.waiters_key, member)

    def extend(self) -> bool:
        """Push the expiry out by ``timeout`` again; False when we no longer own the lock."""
        return bool(self._extend(keys=[self.key], args=[self.token, self.timeout_ms]))

    def release(self) -> list[str]:
        """Release if still ours; returns the waiters to wake (empty when it was not ours)."""
        self._stop_heartbeat()
        owned, waiters = self._release(keys=[self.key, self.waiters_key], args=[self.token])
        if not owned:
            log.warning("lock %s had expired before release (held too long or a pause)", self.key)
            return []
        return sorted(w.decode() if isinstance(w, bytes) else str(w) for w in waiters)

    def held_ms(self) -> int:
        """Milliseconds until the current holder's lock expires (0 when free)."""
        return max(int(self.conn.pttl(self.key)), 0)

    # --- heartbeat -----------------------------------------------------------------------------
    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name=f"lock-heartbeat:{self.key}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                if not self.extend():
                    self.lost.set()
                    return
            except redis.RedisError as exc:  # keep trying; the lock expires on its own if Redis is gone
                log.warning("lock heartbeat for %s failed: %s", self.key, exc)

    def _stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # --- context manager -------------------------------------------------------------------------
    def __enter__(self) -> RepoLock:
        if not self.acquire():
            raise LockHeld(self.key)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


#: delete the lock when it still holds the stale token, and hand back (and clear) its waiters
_FREE = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return false end
redis.call('del', KEYS[1])
local waiters = redis.call('smembers', KEYS[2])
redis.call('del', KEYS[2])
return waiters
"""


def taken_at(token: bytes | str) -> float | None:
    """When a lock with this token was taken (seconds since the epoch); None for a token without
    the time (an older release's)."""
    text = token.decode(errors="replace") if isinstance(token, bytes) else token
    _, sep, ms = text.rpartition("@")
    return int(ms) / 1000 if sep and ms.isdigit() else None


def free_stale(conn: redis.Redis, pattern: str, max_held_s: float, now: float) -> dict[str, list[str]]:
    """Free every lock matching ``pattern`` held longer than ``max_held_s`` (a holder stuck while its
    heartbeat keeps the lock alive: no job may run that long). Returns lock → its waiters, to wake.
    The holder's next heartbeat finds the lock gone and stops writing (``RepoLock.lost``)."""
    freed: dict[str, list[str]] = {}
    script = conn.register_script(_FREE)
    for key in conn.scan_iter(match=pattern, count=500):
        name = key.decode()
        if name.endswith(":waiters"):
            continue
        token = conn.get(name)
        since = taken_at(token) if token is not None else None
        if since is None or now - since <= max_held_s:
            continue
        waiters = script(keys=[name, f"{name}:waiters"], args=[token])
        if waiters is not None:
            log.warning("freed lock %s held for %.0f s (longer than any job may run)", name, now - since)
            freed[name] = sorted(w.decode() for w in waiters)
    return freed


class LockHeld(Exception):
    """Raised by ``with RepoLock(...)`` when another holder has it."""

    def __init__(self, key: str) -> None:
        super().__init__(f"lock {key} is held by another worker")
        self.key = key


@contextmanager
def turn(lock: RepoLock, waiter: str, wake: Callable[[list[str]], None]) -> Iterator[bool]:
    """Take ``lock`` or queue behind it as ``waiter``; yields whether we hold it.

    The waiter is registered *before* trying, so a release between the two still hands it back.
    Held: on exit (also on an exception) the lock is released and ``wake`` gets every waiter
    handed back — the holder's own name too, when another job of the same group queued behind
    it meanwhile (that job did nothing, and what it was queued for may have arrived after the
    holder read its intents). Not held: nothing to release; the holder's release will hand
    ``waiter`` back."""
    lock.add_waiter(waiter)
    if not lock.acquire():
        yield False
        return
    try:
        lock.remove_waiter(waiter)
        yield True
    finally:
        wake(lock.release())
