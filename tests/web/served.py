"""``manifest-bot serve`` as it runs in production (gunicorn, the bot's worker class), on a free
loopback port and the test's Redis prefix; stopped and its log quoted on failure."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.demo.registry import free_port
from bot.settings import Settings
from tests.integration.world import SECRET, worker_env

VENV_BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"


@contextmanager
def serving(settings: Settings, logdir: Path, workers: int = 2) -> Iterator[int]:
    """The port ``manifest-bot serve`` answers on, once ``/healthz`` answers."""
    port = free_port()
    env = worker_env(settings, {"MANIFEST_BOT_WEBHOOK_SECRET_GENERIC": SECRET})
    log = logdir / "serve.log"
    cmd = [str(VENV_BIN / "manifest-bot"), "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while get(port, "/healthz", timeout=1) is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"manifest-bot serve did not answer:\n{log.read_text()[-3000:]}")
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=25)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def get(port: int, path: str, timeout: float) -> http.client.HTTPResponse | None:
    """The answer, read; None when none came within ``timeout``."""
    return _request(port, "GET", path, b"", {}, timeout=timeout)


def signed_delivery(port: int, timeout: float) -> http.client.HTTPResponse | None:
    body = json.dumps({"image": "registry.example.com/shop/api", "tag": "1.2.3"}).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Manifest-Bot-Signature-256": "sha256="
        + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
        "X-Manifest-Bot-Delivery": uuid.uuid4().hex,
    }
    return _request(port, "POST", "/webhooks/generic", body, headers, timeout=timeout)


def _request(
    port: int, method: str, path: str, body: bytes, headers: dict[str, str], *, timeout: float
) -> http.client.HTTPResponse | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body or None, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp
    except OSError:
        return None
    finally:
        conn.close()
