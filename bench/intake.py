"""Benchmark: webhook intake throughput and latency, real app versus a bare Flask endpoint.

Starts gunicorn twice with the same worker settings (``bot/web/gunicorn_conf.py``): once with the
real app (``bot.app:create_app()`` on the local Redis under a throw-away key prefix) and once with
a bare Flask endpoint that only reads the body and answers 202. Each is driven for a fixed time by
16 concurrent connections (asyncio clients in ``--client-procs`` processes) sending signed GitHub
``workflow_run`` deliveries, each with a unique ``X-GitHub-Delivery``. Prints requests/s, p50 and
p99 latency for both, and how many deliveries the app streamed and recorded. The last line is JSON:
``app_rps, bare_rps, ratio, app_p50_ms, app_p99_ms`` (+ details). A server that does not answer, or
accepts no delivery, ends the run with exit status 1, its name and the end of its log: a ratio of
nothing is no measurement. Redis: the tests' own (``bench/_redis.py``).

    .venv/bin/python bench/intake.py [--duration 10] [--concurrency 16] [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import http.client
import json
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flask import Flask, Response, request  # noqa: E402

from bench._redis import REDIS_URL, connect  # noqa: E402
from bot.store import namespace  # noqa: E402

SECRET = "bench-secret"
FIXTURE = ROOT / "tests" / "fixtures" / "webhooks" / "github" / "workflow_run.completed.json"


def bare_app() -> Flask:
    """The baseline: read the body, answer 202 JSON. gunicorn: ``bench.intake:bare_app()``."""
    app = Flask("bare")

    @app.post("/webhooks/<source>")
    def hook(source: str) -> Response:
        request.get_data(cache=False)
        return Response('{"accepted":1}', 202, mimetype="application/json")

    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One gunicorn serving ``app_spec``, its log in ``workdir`` to quote when it fails."""

    def __init__(self, name: str, app_spec: str, workers: int, env: dict[str, str], workdir: Path) -> None:
        self.name, self.port, self.log = name, free_port(), workdir / f"{name}.log"
        cmd = [
            sys.executable, "-m", "gunicorn", "--config", "python:bot.web.gunicorn_conf",
            "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers), app_spec,
        ]  # fmt: skip
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)

    def fail(self, why: str) -> NoReturn:
        self.stop()
        tail = self.log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"bench/intake.py: the {self.name} server {why}; its log ends:\n{tail}")

    def wait_answering(self, timeout_s: float = 30.0) -> None:
        """Until it answers HTTP (gunicorn binds before its workers load the app: a port that
        accepts connections is no app that answers)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.fail(f"exited with {self.proc.returncode} before answering")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                return
            except OSError:
                time.sleep(0.05)  # a child process starting up: nothing to wait on but its socket
            finally:
                conn.close()
        self.fail(f"did not answer within {timeout_s:.0f} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def request_bytes(port: int, body: bytes, signature: str) -> bytes:
    head = (
        f"POST /webhooks/github HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\nUser-Agent: GitHub-Hookshot/bench\r\n"
        "X-GitHub-Event: workflow_run\r\nX-GitHub-Delivery: {id}\r\n"
        f"X-Hub-Signature-256: {signature}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class _Exchange(asyncio.Protocol):
    """One request on its own connection (gunicorn sync workers close after each response)."""

    def __init__(self, payload: bytes, done: asyncio.Future[int]) -> None:
        self.payload, self.done, self.head = payload, done, b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self.payload)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if not self.head:
            self.head = data[:12]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            ok = self.head[:5] == b"HTTP/"
            self.done.set_result(int(self.head[9:12]) if ok else 0)


async def _one(loop: asyncio.AbstractEventLoop, port: int, template: bytes) -> tuple[int, float]:
    payload = template.replace(b"{id}", str(uuid.uuid4()).encode(), 1)
    started = time.perf_counter()
    done: asyncio.Future[int] = loop.create_future()
    await loop.create_connection(lambda: _Exchange(payload, done), "127.0.0.1", port)
    status = await done
    return status, time.perf_counter() - started


async def _drive(
    port: int, template: bytes, concurrency: int, warmup: float, duration: float
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + duration

    async def run() -> None:
        while (now := time.perf_counter()) < stop_at:
            try:
                status, latency = await _one(loop, port, template)
            except OSError:
                status, latency = 0, 0.0
            if now >= measure_from:
                statuses[status] = statuses.get(status, 0) + 1
                latencies.append(latency)

    await asyncio.gather(*(run() for _ in range(concurrency)))
    return {"latencies": latencies, "statuses": statuses}


def _client(port: int, template: bytes, concurrency: int, timing: tuple[float, float], out: Any) -> None:
    try:  # uvloop (pip install uvloop) makes the client cheaper; the stock loop works too
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    out.send(runner(_drive(port, template, concurrency, *timing)))


def drive(
    port: int, template: bytes, *, concurrency: int, procs: int, warmup: float, duration: float
) -> dict[str, Any]:
    pipes, workers = [], []
    for i in range(procs):
        share = concurrency // procs + (1 if i < concurrency % procs else 0)
        parent, child = mp.Pipe(duplex=False)
        p = mp.Process(target=_client, args=(port, template, share, (warmup, duration), child))
        p.start()
        pipes.append(parent)
        workers.append(p)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    for parent, p in zip(pipes, workers, strict=True):
        result = parent.recv()
        p.join()
        latencies.extend(result["latencies"])
        for status, n in result["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    return {"latencies": latencies, "statuses": statuses, "seconds": duration}


def summarise(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Throughput and latency over every measured segment of one server."""
    latencies = sorted(x for part in parts for x in part["latencies"])
    statuses: dict[int, int] = {}
    for part in parts:
        for status, n in part["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    seconds = sum(part["seconds"] for part in parts)

    def pick(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0

    return {"rps": ok / seconds, "ok": ok, "statuses": statuses, "p50_ms": pick(0.5), "p99_ms": pick(0.99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=12.0, help="seconds measured per server")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds driven before each segment")
    parser.add_argument("--rounds", type=int, default=4, help="alternating bare/app segments")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--client-procs", type=int, default=2, help="client processes sharing the connections"
    )
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: gunicorn_conf)")
    args = parser.parse_args()

    from bot.web import gunicorn_conf

    workers = args.workers or gunicorn_conf.workers
    body = FIXTURE.read_bytes()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    prefix = f"mbbench{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "MANIFEST_BOT_REDIS_URL": REDIS_URL,
        "MANIFEST_BOT_REDIS_PREFIX": prefix,
        "MANIFEST_BOT_WEBHOOK_SECRET_GITHUB": SECRET,
        "PYTHONPATH": str(ROOT),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    conn = connect()
    parts: dict[str, list[dict[str, Any]]] = {"bare": [], "app": []}
    logs = Path(tempfile.mkdtemp(prefix="mb-bench-intake-"))
    servers: list[Server] = []
    try:
        for name, spec in (("bare", "bench.intake:bare_app()"), ("app", "bot.app:create_app()")):
            servers.append(Server(name, spec, workers, env, logs))
        for server in servers:
            server.wait_answering()
        # alternate short segments so that load from elsewhere on the machine hits both alike
        for _ in range(args.rounds):
            for server in servers:
                parts[server.name].append(
                    drive(
                        server.port,
                        request_bytes(server.port, body, signature),
                        concurrency=args.concurrency,
                        procs=args.client_procs,
                        warmup=args.warmup,
                        duration=args.duration / args.rounds,
                    )
                )
        results = {name: summarise(segments) for name, segments in parts.items()}
        for server in servers:
            r = results[server.name]
            print(
                f"{server.name:5s} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.2f} ms  "
                f"p99 {r['p99_ms']:6.2f} ms  statuses {r['statuses']}"
            )
            if not r["ok"]:  # a ratio of nothing is no measurement
                server.fail(f"accepted no delivery (statuses {r['statuses']}; 0 = no HTTP answer)")
        queued = conn.xlen(f"{prefix}:deliveries:stream")
        delivered = conn.zcard(f"{prefix}:deliveries:recent")
        print(f"deliveries on the stream: {queued} (records kept: {delivered}, at most delivery_keep)")
        if not queued:  # answered 202 but streamed nothing: no measurement of intake
            raise SystemExit("the app answered but put no delivery on the stream")
    finally:
        for server in servers:
            server.stop()
        namespace.drop(conn, prefix)
        shutil.rmtree(logs)
    app, bare = results["app"], results["bare"]
    print(
        json.dumps(
            {
                "app_rps": round(app["rps"], 1),
                "bare_rps": round(bare["rps"], 1),
                "ratio": round(app["rps"] / bare["rps"], 3),
                "app_p50_ms": round(app["p50_ms"], 2),
                "app_p99_ms": round(app["p99_ms"], 2),
                "bare_p50_ms": round(bare["p50_ms"], 2),
                "bare_p99_ms": round(bare["p99_ms"], 2),
                "app_deliveries_streamed": queued,
                "workers": workers,
                "concurrency": args.concurrency,
                "payload_bytes": len(body),
            }
        )
    )


if __name__ == "__main__":
    main()
