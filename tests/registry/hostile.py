"""A hostile registry (or forge) on a loopback port: each answer is a function of the request, and every
request it received is kept (method, path, Authorization), so a test can show what reached it."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from bot.demo.registry import free_port

Handler = http.server.BaseHTTPRequestHandler
Answer = Callable[[Handler], None]


@dataclass
class Seen:
    method: str
    path: str
    authorization: str | None


@dataclass
class HostileRegistry:
    """``answer(handler)`` writes the whole answer; ``host`` is how the client reaches it (a test
    reaches the same server as ``localhost:port`` to make it "another host" than ``127.0.0.1``)."""

    answer: Answer
    port: int = field(default_factory=free_port)
    seen: list[Seen] = field(default_factory=list)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @contextmanager
    def serving(self) -> Iterator[HostileRegistry]:
        registry = self

        class _Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                registry.seen.append(Seen(self.command, self.path, self.headers.get("Authorization")))
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    registry.answer(self)  # a client that gave up: what the slow answers are for

            do_GET = do_HEAD = do_POST = _any

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()


def reply(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> Answer:
    def answer(h: Handler) -> None:
        h.send_response(status)
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)

    return answer


def trickle(stop: threading.Event, interval: float = 0.25, lines: int = 60) -> Answer:
    """A status line, then one header line every ``interval`` s: no single read ever times out."""

    def answer(h: Handler) -> None:
        h.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for i in range(lines):
            if stop.wait(interval):
                return
            h.wfile.write(f"X-Slow-{i}: 1\r\n".encode())
            h.wfile.flush()

    return answer
