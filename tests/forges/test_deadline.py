"""Every forge request has a total deadline (attack 3 of the second round, for forges): a forge
API that trickles one header line every 0.25 s never trips the read timeout, and is cut anyway."""

from __future__ import annotations

import threading
import time

import pytest

from bot.core.ports import ForgeInfo
from bot.errors import Transient
from bot.forges.github import metering
from bot.forges.github.adapter import GitHubForge
from bot.forges.github.clients import TokenCredentials
from bot.forges.gitlab import calls
from bot.forges.gitlab.adapter import GitLabForge
from tests.registry.hostile import HostileRegistry, trickle


def test_a_gitlab_call_is_cut_at_its_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """python-gitlab as it ships (``timeout`` per connect and read): the adapter's door
    (``calls.GitLabCalls.run``) ends the call at ``calls.DEADLINE_S`` and says so as a Transient."""
    monkeypatch.setattr(calls, "DEADLINE_S", 1.0)
    stop = threading.Event()
    forge = HostileRegistry(trickle(stop))
    with forge.serving():
        gl = GitLabForge(ForgeInfo(name="gl-slow", kind="gitlab"), "glpat-t", url=f"http://{forge.host}")
        started = time.monotonic()
        with pytest.raises(Transient, match="Timeout talking to the forge"):
            gl.read_file("acme/deploy", "a.yaml", "main")
        held = time.monotonic() - started
        stop.set()
    assert held < 1.5


def test_a_github_call_is_cut_at_its_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """PyGithub as it ships (its own connection class, ``timeout`` per read): the adapter's call
    wrapper ends the call at ``metering.DEADLINE_S`` and says so as a Transient."""
    monkeypatch.setattr(metering, "DEADLINE_S", 1.0)
    stop = threading.Event()
    forge = HostileRegistry(trickle(stop))
    with forge.serving():
        gh = GitHubForge(
            ForgeInfo(name="gh-slow", kind="github"),
            TokenCredentials("t"),
            api_url=f"http://{forge.host}/api/v3",
        )
        started = time.monotonic()
        with pytest.raises(Transient, match="Timeout talking to the forge"):
            gh.read_file("acme/deploy", "a.yaml", "main")
        held = time.monotonic() - started
        stop.set()
    assert held < 1.5
