"""A private ``redis-server`` per test, on a free port, for faults the shared Redis must never see
(maxmemory, eviction policies, restarts, SIGKILL). Never reconfigures 127.0.0.1:6379."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from tests.integration.world import wait_for


@dataclass
class RedisServer:
    workdir: Path
    extra: list[str] = field(default_factory=list)
    port: int = 0
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def conn(self) -> redis.Redis:
        return redis.Redis(port=self.port)

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        if not self.port:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir)]
        args += ["--save", "", "--logfile", str(self.workdir / "redis.log")]
        proc = subprocess.Popen(args + self.extra, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        wait_for(self._pings, 10, "the private redis-server to accept connections")

    def _pings(self) -> bool:
        try:
            return bool(self.conn().ping())
        except redis.ConnectionError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final fsync."""
        self.procs[-1].send_signal(signal.SIGKILL)
        self.procs[-1].wait(timeout=10)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed: cannot run a private Redis")
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = RedisServer(workdir)
    yield server
    server.stop()
