"""A total deadline for one blocking call, for every outbound HTTP exchange (registries, forges,
token servers).

``requests`` (and urllib3 under it) time out *per read*: a peer that sends one header line a
second never trips a 5 s read timeout and holds the caller for as long as it likes. ``within``
runs the call on a thread of its own and stops waiting at the deadline, raising the caller's
error; the abandoned exchange ends by itself (its reads still time out, http.client bounds the
header lines), holding a daemon thread and a connection, never a worker. A thread per call rather
than a pool: a pool's threads do not survive the fork of an rq work horse.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar, cast

T = TypeVar("T")


def within(seconds: float, call: Callable[[], T], expired: Callable[[], BaseException]) -> T:
    """``call()``'s result or exception, or ``expired()`` raised when it takes over ``seconds``."""
    outcome: list[tuple[bool, object]] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:  # handed to the waiting caller, raised there
            outcome.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, name="outbound call", daemon=True).start()
    if not done.wait(seconds):
        raise expired()
    ok, value = outcome[0]
    if not ok:
        raise cast(BaseException, value)
    return cast(T, value)
