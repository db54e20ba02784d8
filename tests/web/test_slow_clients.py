"""Attack 4 of the second round, on ``manifest-bot serve`` itself: sixteen connections that send
``Content-Length: 100000`` and then nothing, or never finish their headers, hold no worker —
``/healthz`` and a signed delivery still answer within a second — and each is cut at the read
deadline. Attack 5: every answer forbids framing and sniffing."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from bot.settings import Settings
from tests.doubles import slow_clients
from tests.web.served import get, serving, signed_delivery

SLOW = 16


@pytest.fixture
def served(tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis) -> Iterator[int]:
    with serving(make_settings(), tmp_path) as port:
        yield port


def test_slow_clients_hold_no_worker_and_are_cut(served: int) -> None:
    socks = slow_clients(served, SLOW)
    try:
        # the slow connections are in the accept queue ahead of what follows: a server that
        # serves one connection at a time (gunicorn's sync worker) reaches them first and stalls
        started = time.monotonic()
        health = get(served, "/healthz", timeout=5)
        health_s = time.monotonic() - started
        started = time.monotonic()
        delivery = signed_delivery(served, timeout=5)
        delivery_s = time.monotonic() - started
        assert health is not None and health.status == 200 and health_s < 1.0
        assert delivery is not None and delivery.status == 202 and delivery_s < 1.0

        for sock in socks:  # each is cut at the 10 s read deadline: refused (a short body) or hung up on
            sock.settimeout(15)
            assert _until_closed(sock) in (b"", b"HTTP/1.1 400", b"HTTP/1.1 401")

    finally:
        for sock in socks:
            sock.close()


def _until_closed(sock: socket.socket) -> bytes:
    """The start of what the server sent before it closed the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received[:12]


@pytest.mark.parametrize(
    "path", ["/", "/api/status", "/healthz", "/metrics", "/webhooks/generic", "/nowhere"]
)
def test_every_answer_forbids_framing_and_sniffing(served: int, path: str) -> None:
    resp = get(served, path, timeout=5)
    assert resp is not None
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
