"""Small test doubles shared by tests and benches: a clock moved by hand, a counted HTTP session."""

from __future__ import annotations

import requests


class Clock:
    """A clock the caller moves by hand (``clock.now += 5``); pass it where a ``time.time`` goes."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountedSession:
    """A ``requests.Session`` whose every response is counted (token requests included), through
    requests' public response hook."""

    def __init__(self) -> None:
        self.session = requests.Session()
        self.count = 0
        self.session.hooks["response"].append(self._count)

    def _count(self, resp: requests.Response, *args: object, **kwargs: object) -> None:
        self.count += 1
