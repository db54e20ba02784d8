"""The demo's Redis: the one in ``MANIFEST_BOT_REDIS_URL``, else a private ``redis-server`` on a
temporary unix socket, else an in-process fake (fakeredis, from the ``demo`` extra) with a clear
warning; without fakeredis either, a clear error saying how to install it.

A real Redis lets the worker run as its own process (``manifest-bot worker``), exactly as in
production; the in-process fake only works inside this process, so the demo then runs the worker
in it too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from bot.demo.processes import stop

REDIS_URL_ENV = "MANIFEST_BOT_REDIS_URL"
START_DEADLINE_S = 10.0
FAKE_WARNING = (
    "WARNING: running on an in-process fake Redis (fakeredis) with the worker inside this process"
    " ({why}). Fine for the demo; production needs a real Redis with AOF persistence"
    " (docs/operations.md)."
)
NOT_FOUND = "MANIFEST_BOT_REDIS_URL is unset and there is no redis-server binary"
#: fakeredis comes with the demo extra only (the service itself never needs it)
NO_FAKE = (
    "the in-process fake Redis needs fakeredis, which is not installed: pip install 'manifest-bot[demo]'"
    " (in a checkout: pip install -e '.[demo]')"
)


@dataclass
class DemoRedis:
    mode: str  # "url" | "redis-server" | "fake"
    url: str  # what a separate process would connect to ("" for the fake)
    conn: redis.Redis
    description: str

    @property
    def separate_processes(self) -> bool:
        return self.mode != "fake"


def _wait_ready(conn: redis.Redis, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if conn.ping():
                return
        except redis.ConnectionError:
            pass
        time.sleep(0.02)  # a child process starting up: nothing to wait on but its socket
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RuntimeError(f"redis-server did not become ready within {START_DEADLINE_S:.0f}s\n{tail}")


@contextmanager
def private_redis_server(binary: str, workdir: Path) -> Iterator[DemoRedis]:
    socket = workdir / "redis.sock"
    log = workdir / "redis.log"
    args = [
        binary,
        "--port", "0",
        "--unixsocket", str(socket),
        "--unixsocketperm", "700",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(workdir),
        "--logfile", str(log),
    ]  # fmt: skip
    proc = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"unix://{socket}"
    conn = redis.Redis.from_url(url)
    try:
        _wait_ready(conn, proc, log)
        yield DemoRedis("redis-server", url, conn, f"private redis-server on {socket}")
    finally:
        conn.close()
        stop(proc)


@contextmanager
def fake_redis(why: str = "") -> Iterator[DemoRedis]:
    """The in-process fake; ``why`` it is the one left, for the error when it is not installed."""
    try:
        import fakeredis
    except ImportError:
        raise RuntimeError(why + NO_FAKE) from None
    server = fakeredis.FakeServer()
    yield DemoRedis("fake", "", fakeredis.FakeRedis(server=server), "in-process fake Redis (fakeredis)")


@contextmanager
def demo_redis(
    workdir: Path, *, prefer: str = "auto", environ: dict[str, str] | None = None
) -> Iterator[DemoRedis]:
    """The best Redis available; ``prefer`` forces one mode: url, redis-server or fake."""
    env = os.environ if environ is None else environ
    url = env.get(REDIS_URL_ENV)
    binary = shutil.which("redis-server")
    if prefer in ("auto", "url") and url:
        conn = redis.Redis.from_url(url, socket_connect_timeout=2)
        conn.ping()  # fail now, with the URL's own error, rather than halfway through the demo
        try:
            yield DemoRedis("url", url, conn, f"Redis at {REDIS_URL_ENV}")
        finally:
            conn.close()
        return
    if prefer == "url":
        raise RuntimeError(f"{REDIS_URL_ENV} is not set")
    if prefer in ("auto", "redis-server") and binary:
        with private_redis_server(binary, workdir) as found:
            yield found
        return
    if prefer == "redis-server":
        raise RuntimeError("no redis-server binary on PATH")
    with fake_redis(f"{NOT_FOUND}, and " if prefer == "auto" else "") as found:
        yield found
