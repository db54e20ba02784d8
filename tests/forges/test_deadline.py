"""Every forge request has a total deadline (attack 3 of the second round, for forges): a forge
API that trickles one header line every 0.25 s never trips the read timeout, and is cut anyway."""

from __future__ import annotations

import threading
import time

import pytest
from github import Auth, Github

from bot.errors import Transient
from bot.forges.github import transport
from bot.forges.http import HttpClient
from tests.registry.hostile import HostileRegistry, trickle


def test_the_shared_http_client_cuts_a_trickling_forge_at_its_deadline() -> None:
    stop = threading.Event()
    forge = HostileRegistry(trickle(stop))
    with forge.serving():
        http = HttpClient(f"http://{forge.host}/api/v4", lambda _repo: {}, deadline_s=1.0)
        started = time.monotonic()
        with pytest.raises(Transient, match="Timeout talking to the forge"):
            http.request("GET", "/projects/1", "read project")
        held = time.monotonic() - started
        stop.set()
    assert held < 1.5


def test_pygithub_requests_are_cut_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "DEADLINE_S", 1.0)
    transport.install()
    stop = threading.Event()
    forge = HostileRegistry(trickle(stop))
    with forge.serving():
        gh = Github(auth=Auth.Token("t"), base_url=f"http://{forge.host}/api/v3", retry=None)
        started = time.monotonic()
        with (
            pytest.raises(Exception, match="within 1 s"),
            transport.scope("github", f"http://{forge.host}/api/v3"),
        ):
            gh.get_repo("acme/deploy")
        held = time.monotonic() - started
        stop.set()
    assert held < 1.5
