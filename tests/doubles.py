"""Small test doubles shared by tests and benches: a clock moved by hand, a counted HTTP session,
slow HTTP clients."""

from __future__ import annotations

import socket

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


def slow_clients(port: int, n: int) -> list[socket.socket]:
    """``n`` connections to ``127.0.0.1:port`` that hold a server: half announce a body they never
    send, half never finish their headers. The caller closes them."""
    socks = []
    for i in range(n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if i % 2:
            sock.sendall(
                b"POST /webhooks/generic HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                b"X-Manifest-Bot-Signature-256: sha256=00\r\n\r\n{"
            )
        else:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        socks.append(sock)
    return socks
