"""The demo's processes: the web app on a local port (a thread of this process) and the worker —
``manifest-bot worker`` as a child process on a real Redis, or the worker in this process on the
fake one — plus the quiescence check both are waited on with."""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from rq import Queue
from rq.registry import StartedJobRegistry
from werkzeug.serving import make_server

from bot.app import create_app
from bot.deps import Container
from bot.jobs import runtime
from bot.jobs.worker import build_worker
from bot.settings import ENV_PREFIX, Settings
from bot.store.deliveries import DeliveryStore
from bot.store.groups import GroupStore
from bot.store.intents import IntentStore
from bot.store.waiting import WaitingStore

#: the in-process engine takes over what another consumer left pending this long (a process of
#: an earlier command that was killed)
CLAIM_IDLE_MS = 10_000
DONE_STATUSES = {"processed", "failed", "ignored"}
POLL_S = 0.05
STABLE_POLLS = 3  # quiet this many polls in a row: no job can be between dequeue and "started"


def container_for(settings: Settings, conn: redis.Redis) -> Container:
    container = Container(settings)
    container.__dict__["redis"] = conn  # share the demo's connection (Container.redis is cached)
    return container


@contextmanager
def web_server(container: Container) -> Iterator[str]:
    """``create_app`` served on 127.0.0.1 (a free port) by a thread; yields the base URL."""
    app = create_app(container=container)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="demo-web", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def worker_env(settings: Settings, redis_url: str) -> dict[str, str]:
    """The child's environment: ours, minus any MANIFEST_BOT_* of the caller's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update(
        {
            f"{ENV_PREFIX}REDIS_URL": redis_url,
            f"{ENV_PREFIX}REDIS_PREFIX": settings.redis_prefix,
            f"{ENV_PREFIX}CONFIG_PATH": str(settings.config_path),
            f"{ENV_PREFIX}LOG_LEVEL": "WARNING",
            f"{ENV_PREFIX}LOG_JSON": "false",
            f"{ENV_PREFIX}REDIS_REQUIRE_AOF": str(settings.redis_require_aof).lower(),
            f"{ENV_PREFIX}BOT_LOGIN": settings.bot_login,
        }
    )
    if settings.registry_endpoints:  # the demo's real registries
        endpoints = ",".join(f"{h}={e}" for h, e in sorted(settings.registry_endpoints.items()))
        env[f"{ENV_PREFIX}REGISTRY_ENDPOINTS"] = endpoints
        env[f"{ENV_PREFIX}REGISTRY_RETRY_S"] = str(settings.registry_retry_s)
        env[f"{ENV_PREFIX}REGISTRY_WAIT_S"] = str(settings.registry_wait_s)
    return env


@contextmanager
def worker_process(settings: Settings, redis_url: str, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``manifest-bot worker`` in a child process, stopped (SIGTERM, then SIGKILL) on exit."""
    command = [sys.executable, "-c", "from bot.cli import main; main()", "worker"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command, env=worker_env(settings, redis_url), stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)


@contextmanager
def in_process_worker(container: Container) -> Iterator[Callable[[], None]]:
    """The bot's worker in this process, one step at a time (the fake Redis lives only here; the
    ``local`` commands run the bot right where they are): each step handles every delivery on the
    stream, ticks the leader and runs every queued job. On exit the lead is given up, so a worker
    process (or the next command) takes over at once."""
    runtime.install(container)
    name = f"{container.settings.redis_prefix}-local-{secrets.token_hex(3)}"
    engine = container.engine(name)
    worker = build_worker(container, name=name)

    def step() -> None:
        engine.drain(claim_idle_ms=CLAIM_IDLE_MS)
        worker.work(burst=True, logging_level="WARNING")

    try:
        yield step
    finally:
        engine.leader.release()
        runtime.install(None)


@dataclass
class Quiescence:
    """Everything posted is handled, every queue and registry is empty, no group has work left."""

    conn: redis.Redis
    settings: Settings
    repo_groups: Callable[[], Iterable[str]]

    def pending(self, delivery_ids: Iterable[str]) -> list[str]:
        """What is still going on, in words (empty = quiet)."""
        out = []
        store = DeliveryStore(self.conn, self.settings)
        for delivery_id in delivery_ids:
            record = store.record(delivery_id)
            if record is None or record.status not in DONE_STATUSES:
                out.append(f"delivery {delivery_id} {record.status if record else 'missing'}")
        backlog = store.backlog()
        if backlog:
            out.append(f"{backlog} deliveries on their way")
        queue = Queue(self.settings.queue("jobs"), connection=self.conn)
        busy = queue.count + StartedJobRegistry(queue=queue).count
        if busy:
            out.append(f"{busy} job(s) queued or running")
        intents = IntentStore(self.conn, self.settings)
        waiting = WaitingStore(self.conn, self.settings)
        for group_key in self.repo_groups():
            if intents.snapshot(group_key).dirty:
                out.append(f"group {group_key} dirty")
            for entry in waiting.entries(group_key):
                out.append(f"{entry.intent.image}:{entry.intent.tag} waiting for its registry")
        return out

    def wait(
        self, delivery_ids: Iterable[str], deadline_s: float, step: Callable[[], None] | None = None
    ) -> list[str]:
        """Poll until quiet for STABLE_POLLS polls in a row or the deadline passes; returns what
        was still pending at the deadline (empty on success). ``step`` runs the in-process worker."""
        ids = list(delivery_ids)
        deadline = time.monotonic() + deadline_s
        quiet = 0
        pending: list[str] = []
        while time.monotonic() < deadline:
            if step is not None:
                step()
            pending = self.pending(ids)
            quiet = quiet + 1 if not pending else 0
            if quiet >= STABLE_POLLS:
                return []
            time.sleep(POLL_S)  # the work runs elsewhere (a worker process); this only paces polling
        return pending or ["not quiet for long enough"]


def groups_of(conn: redis.Redis, settings: Settings, forge: str, repo: str) -> Callable[[], list[str]]:
    store = GroupStore(conn, settings)
    return lambda: store.groups_of(forge, repo)
