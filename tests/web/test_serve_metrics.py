"""`manifest-bot serve` with two gunicorn workers: `/metrics` adds up both workers' values with no
setting (a private multiprocess directory, removed when it stops), and shows only the web's own
metrics (no `manifest_bot_config_refused` of its own next to the worker's)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import redis

from bot.settings import Settings
from tests.cli.test_worker_metrics import free_port, value
from tests.integration.world import make_world, wait_for, worker_env

UNKNOWN = 'manifest_bot_deliveries_total{outcome="unknown_source",source="unknown"}'


def get(port: int, path: str) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.read().decode()
    except OSError:
        return None


def post_unknown(port: int) -> None:
    """A delivery to a source the bot does not know: counted, answered 404."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/nowhere", data=b"{}", method="POST")
    try:
        urllib.request.urlopen(request, timeout=5)
    except urllib.error.HTTPError as exc:
        assert exc.code == 404


def test_serve_adds_up_its_workers_and_shows_only_its_own_metrics(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    world = make_world(tmp_path / "world", images=1, envs=("dev",))
    settings = make_settings(config_path=world.config_path)
    port = free_port()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = worker_env(settings, {"TMPDIR": str(tmp)})
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - lives as long as the process
    cmd = [sys.executable, "-c", "from bot.cli import main; main()", "serve", "--workers", "2"]
    cmd += ["--bind", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    logs = (tmp_path / "serve.log").read_text
    try:
        wait_for(lambda: get(port, "/healthz") is not None, 60, "serve to answer", logs)
        # one worker reads a request that does not end yet; the other must take the next one
        with socket.create_connection(("127.0.0.1", port), timeout=10) as held:
            held.sendall(b"POST /webhooks/nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n")
            post_unknown(port)
            held.sendall(b"Connection: close\r\n\r\n{}")
            assert held.recv(64).startswith(b"HTTP/1.1 404")
        for _ in range(4):  # whichever worker answers the scrape, it counts both deliveries
            text = get(port, "/metrics")
            assert value(text, UNKNOWN) == 2, text
            assert "manifest_bot_config_refused" not in (text or "")
            assert "manifest_bot_reconcile_runs" not in (text or "")
        made = [p for p in tmp.iterdir() if p.name.startswith("manifest-bot-metrics-")]
        assert len(made) == 1 and any(made[0].glob("*.db"))
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, logs()
        log.close()
    assert not [p for p in tmp.iterdir() if p.name.startswith("manifest-bot-metrics-")]
