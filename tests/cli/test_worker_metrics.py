"""A worker process serves /metrics with what its jobs recorded (forking worker + multiprocess dir)."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from bot.app import create_app
from bot.settings import Settings
from tests.integration.world import SECRET, Workers, make_world, post_all, race_posts, wait_for, worker_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> str | None:
    """The worker's /metrics text, or None while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            return resp.read().decode()
    except OSError:
        return None


def value(text: str | None, sample: str) -> float:
    for line in (text or "").splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return 0.0


def test_worker_serves_metrics_of_its_jobs(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    world = make_world(tmp_path / "world", images=2, envs=("dev",))
    settings = make_settings(config_path=world.config_path, webhook_secrets={"generic": (SECRET,)})
    port = free_port()
    prom_dir = tmp_path / "prom"
    prom_dir.mkdir()
    extra = {"MANIFEST_BOT_WORKER_METRICS_PORT": str(port), "PROMETHEUS_MULTIPROC_DIR": str(prom_dir)}
    logs = tmp_path / "logs"
    logs.mkdir()
    workers = Workers(worker_env(settings, extra), logs)
    workers.start(1)
    try:
        wait_for(lambda: scrape(port) is not None, 30, "the worker's /metrics", workers.logs)
        post_all(create_app(settings=settings), race_posts(world, n=6))
        opened = 'manifest_bot_reconcile_runs_total{outcome="opened"}'
        wait_for(lambda: value(scrape(port), opened) >= 1, 60, "a reconcile that opened the PR", workers.logs)
        text = scrape(port)
        assert value(text, 'manifest_bot_intents_total{outcome="created"}') >= 1
        assert value(text, "manifest_bot_reconcile_duration_seconds_count") >= 1
        # the worker exports what it knows (the config it runs), not the web's intake
        assert "manifest_bot_config_refused 0.0" in (text or "")
        assert "manifest_bot_deliveries_total" not in (text or "")
        for address in other_addresses():  # not configured: this host only
            with socket.socket() as s, pytest.raises(OSError):
                s.settimeout(2)
                s.connect((address, port))
    finally:
        workers.stop()


def test_a_taken_metrics_port_is_a_one_line_error(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    world = make_world(tmp_path / "world", images=1, envs=("dev",))
    settings = make_settings(config_path=world.config_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = worker_env(settings, {"MANIFEST_BOT_WORKER_METRICS_PORT": str(port)})
        cmd = [sys.executable, "-c", "from bot.cli import main; main()", "worker", "--burst"]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"Error: cannot serve the worker's metrics on 127.0.0.1:{port}: Address already in use; set "
        "MANIFEST_BOT_WORKER_METRICS_PORT to a free port (each worker on a host needs its own) or unset it"
    ]


def other_addresses() -> list[str]:
    """This machine's IPv4 addresses that are not loopback (none in some sandboxes)."""
    found = set()
    for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
        found.add(str(info[4][0]))
    try:  # the address the default route would use
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            found.add(s.getsockname()[0])
    except OSError:
        pass
    return sorted(a for a in found if not a.startswith("127."))
