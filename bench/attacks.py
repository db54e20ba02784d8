"""Benchmark: the second attack round's figures (issue 22), measured on the real parts.

- **slow clients**: ``manifest-bot serve`` (gunicorn, the bot's worker class, ``--workers 2``) on
  loopback with ``--slow`` connections open (half announce ``Content-Length: 100000`` and send one
  byte, half never finish their headers); then the seconds ``/healthz`` and a signed delivery take
  (``--wait`` when none came: no answer);
- **slow registry**: a registry answering one header line every ``--trickle-interval`` s for
  ``--trickle-s`` s, asked by the registry client with ``MANIFEST_BOT_REGISTRY_TIMEOUT_S`` =
  ``--registry-timeout``: how long the call holds its worker;
- **fan-out**: a signed Harbor push listing ``--tags`` tags of one image through the Flask app;
  the images it admits, and the registry requests resolving them costs (a counting registry);
- **comment flood**: a ``--lines``-line comment alternating ``pin <base version>`` and ``unpin``:
  how many of its commands run (each run pair opened and closed a PR before).

    .venv/bin/python bench/attacks.py [--slow 16] [--trickle-s 30] [--tags 3000] [--lines 1000]

Last line: JSON (``healthz_s``, ``delivery_s``, ``registry_hold_s``, ``fanout_images``,
``fanout_registry_requests``, ``flood_commands_run``); ``healthz_s``/``delivery_s`` are null when
no answer came within ``--wait``. A server that never answers at all (before the slow clients),
or a trickling registry's answer accepted, ends the run with exit status 1: that is no measurement.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import http.server
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._redis import REDIS_URL, connect  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.core.chatops.commands import parse_comment  # noqa: E402
from bot.core.chatops.fold import bounded  # noqa: E402
from bot.errors import BotError  # noqa: E402
from bot.registry import RegistryClient  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.doubles import slow_clients as open_slow_clients  # noqa: E402

SECRET = "bench-secret"
DIGEST = "sha256:" + "ab" * 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ask(
    port: int, method: str, path: str, body: bytes, headers: dict[str, str], *, wait: float
) -> float | None:
    """Seconds until a whole answer; None when none came within ``wait``."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=wait)
    try:
        conn.request(method, path, body=body or None, headers=headers)
        conn.getresponse().read()
        return time.monotonic() - started
    except OSError:
        return None
    finally:
        conn.close()


def signed(body: bytes) -> dict[str, str]:
    mac = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Manifest-Bot-Signature-256": f"sha256={mac}",
        "X-Manifest-Bot-Delivery": uuid.uuid4().hex,
    }


def slow_clients(slow: int, wait: float, prefix: str, workdir: Path) -> dict[str, float | None]:
    port = free_port()
    env = {
        "PATH": str(ROOT / ".venv" / "bin"),
        "PYTHONPATH": str(ROOT),
        "MANIFEST_BOT_REDIS_URL": REDIS_URL,
        "MANIFEST_BOT_REDIS_PREFIX": prefix,
        "MANIFEST_BOT_REDIS_REQUIRE_AOF": "false",
        "MANIFEST_BOT_WEBHOOK_SECRET_GENERIC": SECRET,
        "MANIFEST_BOT_LOG_LEVEL": "WARNING",
    }
    log = workdir / "serve.log"
    cmd = [
        str(ROOT / ".venv" / "bin" / "manifest-bot"),
        "serve",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    socks: list[socket.socket] = []  # closed in the finally below
    try:
        deadline = time.monotonic() + 30
        while ask(port, "GET", "/healthz", b"", {}, wait=1) is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    f"bench/attacks.py: manifest-bot serve never answered:\n{log.read_text()[-2000:]}"
                )
            time.sleep(0.05)
        socks = open_slow_clients(port, slow)
        # the slow connections are in the accept queue ahead of what follows: a server that
        # serves one connection at a time (gunicorn's sync worker) reaches them first and stalls
        body = json.dumps({"image": "registry.example.com/shop/api", "tag": "1.2.3"}).encode()
        return {
            "healthz_s": ask(port, "GET", "/healthz", b"", {}, wait=wait),
            "delivery_s": ask(port, "POST", "/webhooks/generic", body, signed(body), wait=wait),
        }
    finally:
        for sock in socks:
            sock.close()
        proc.terminate()
        proc.wait(timeout=30)


class Counting(http.server.ThreadingHTTPServer):
    requests = 0


def registry(answer: str, interval: float, lines: int, stop: threading.Event) -> Counting:
    """``trickle``: one header line per ``interval``; ``found``: HEAD 200 with a digest."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_HEAD(self) -> None:
            server.requests += 1
            try:
                if answer == "found":
                    self.send_response(200)
                    self.send_header("Docker-Content-Digest", DIGEST)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                for i in range(lines):
                    if stop.wait(interval):
                        return
                    self.wfile.write(f"X-Slow-{i}: 1\r\n".encode())
                    self.wfile.flush()
            except OSError:
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = Counting(("127.0.0.1", free_port()), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def slow_registry(timeout: float, trickle_s: float, interval: float) -> float:
    stop = threading.Event()
    server = registry("trickle", interval, int(trickle_s / interval), stop)
    host = f"127.0.0.1:{server.server_address[1]}"
    started = time.monotonic()
    try:
        RegistryClient(cache_ttl=0, timeout=timeout).resolve(f"{host}/shop/api", "1.0")
    except BotError:
        return time.monotonic() - started
    finally:
        stop.set()
        server.shutdown()
    raise SystemExit("bench/attacks.py: the trickling registry's answer was accepted: no measurement")


def fan_out(tags: int, prefix: str) -> dict[str, int]:
    stop = threading.Event()
    server = registry("found", 0, 0, stop)
    host = f"127.0.0.1:{server.server_address[1]}"
    settings = Settings.model_validate(
        {
            "redis_url": REDIS_URL,
            "redis_prefix": prefix,
            "redis_require_aof": False,
            "webhook_secrets": {"harbor": [SECRET]},
        }
    )
    resources = [{"tag": f"1.0.{i}", "resource_url": f"{host}/library/nginx:1.0.{i}"} for i in range(tags)]
    body = json.dumps(
        {"type": "PUSH_ARTIFACT", "occur_at": 1680501893, "event_data": {"resources": resources}}
    ).encode()
    resp = (
        create_app(settings=settings)
        .test_client()
        .post("/webhooks/harbor", data=body, headers={"Authorization": SECRET})
    )
    admitted = int(resp.get_json().get("accepted", 0))
    client = RegistryClient(cache_ttl=0)
    for i in range(admitted):  # what verifying the admitted images costs (one HEAD each, open registry)
        client.resolve(f"{host}/library/nginx", f"1.0.{i}")
    server.shutdown()
    return {"fanout_images": admitted, "fanout_registry_requests": server.requests}


def flood(lines: int) -> int:
    body = "\n".join(["/manifest-bot pin 1.0.0", "/manifest-bot unpin"] * (lines // 2))
    return len(bounded(parse_comment(body, author="alice")).commands)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slow", type=int, default=16)
    parser.add_argument("--wait", type=float, default=20.0)
    parser.add_argument("--registry-timeout", type=float, default=5.0)
    parser.add_argument("--trickle-s", type=float, default=30.0)
    parser.add_argument("--trickle-interval", type=float, default=1.0)
    parser.add_argument("--tags", type=int, default=3000)
    parser.add_argument("--lines", type=int, default=1000)
    args = parser.parse_args()
    conn = connect()
    prefix = f"mbbench{uuid.uuid4().hex[:8]}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result: dict[str, object] = slow_clients(args.slow, args.wait, prefix, Path(tmp))
        result["registry_hold_s"] = round(
            slow_registry(args.registry_timeout, args.trickle_s, args.trickle_interval), 2
        )
        result.update(fan_out(args.tags, prefix))
        result["flood_commands_run"] = flood(args.lines)
    finally:
        for key in conn.scan_iter(f"{prefix}:*", count=1000):
            conn.delete(key)
    for key in ("healthz_s", "delivery_s"):
        value = result[key]
        result[key] = round(value, 3) if isinstance(value, float) else None
    print(json.dumps(result))


if __name__ == "__main__":
    main()
