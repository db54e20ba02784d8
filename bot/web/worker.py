"""The web tier's gunicorn worker: gunicorn's threaded worker with a deadline on reading a request.

gunicorn's ``gthread`` worker keeps idle and kept-alive connections on a poller, not on a thread,
and gives a new connection a thread only once it sends something. But from its first byte on, the
thread reads the headers and the body with blocking reads and no time limit: a client that sends
half a request line, or ``Content-Length: 100000`` and then nothing, holds that thread for good,
and a few such clients stop a pod. ``DeadlineWorker`` gives every request ``READ_DEADLINE_S`` from
its first byte to arrive whole, headers and body together (each read waits only for what is left
of it); a client that has not finished by then is treated as one that hung up (a half request is
dropped, a short body answered 400) and its thread freed. Answers are written
with ``WRITE_TIMEOUT_S`` per write.

Plain HTTP only: TLS ends at the ingress or proxy in front (``gunicorn_conf`` sets no certificate).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

log = logging.getLogger(__name__)

#: seconds a request has, from its first byte, to arrive whole (headers and body)
READ_DEADLINE_S = float(os.environ.get("WEB_READ_DEADLINE_S", "10"))
#: seconds one write of an answer may block
WRITE_TIMEOUT_S = 10.0


class DeadlineSocket:
    """A connection's socket whose reads share one deadline per request (``arm`` starts the next)."""

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self.sock = sock
        self.seconds = seconds
        self.deadline: float | None = None

    def arm(self) -> None:
        self.deadline = None  # set by the request's first read, not by the wait before it

    def recv(self, size: int) -> bytes:
        now = time.monotonic()
        if self.deadline is None:
            self.deadline = now + self.seconds
        remaining = self.deadline - now
        if remaining > 0:
            self.sock.settimeout(remaining)
            try:
                return self.sock.recv(size)
            except TimeoutError:
                pass
        log.info("slow client cut", extra={"read_deadline_s": self.seconds})
        return b""  # as if it hung up: gunicorn drops a half request, Flask answers a short body 400

    def sendall(self, data: bytes) -> None:
        self.sock.settimeout(WRITE_TIMEOUT_S)
        self.sock.sendall(data)

    def send(self, data: bytes) -> int:
        self.sock.settimeout(WRITE_TIMEOUT_S)
        return self.sock.send(data)

    def fileno(self) -> int:
        return self.sock.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class DeadlineWorker(ThreadWorker):
    """``gthread`` with ``DeadlineSocket`` on every plain-HTTP connection."""

    def handle(self, conn: Any) -> Any:
        if not self.cfg.is_ssl:
            if not isinstance(conn.sock, DeadlineSocket):
                conn.sock = DeadlineSocket(conn.sock, READ_DEADLINE_S)
            conn.sock.arm()
        return super().handle(conn)
