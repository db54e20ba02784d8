"""A few W3C WebDriver commands over HTTP to Debian's ``chromedriver`` (``chromium-driver``), so a
browser test can click a button: start the driver, open a headless Chromium session, navigate,
find an element, click, read the page. No client library: the protocol is a handful of JSON calls
(https://www.w3.org/TR/webdriver2/)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import pytest
import requests

#: the key W3C WebDriver puts an element reference under
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Session:
    def __init__(self, base: str, session_id: str) -> None:
        self.url = f"{base}/session/{session_id}"

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        resp = requests.request(method, self.url + path, json=payload, timeout=60)
        body = resp.json()
        assert resp.status_code == 200, body
        return body["value"]

    def get(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def click(self, css: str) -> None:
        element = self._call("POST", "/element", {"using": "css selector", "value": css})
        self._call("POST", f"/element/{element[ELEMENT]}/click", {})

    def source(self) -> str:
        return str(self._call("GET", "/source"))

    def current_url(self) -> str:
        return str(self._call("GET", "/url"))


@contextmanager
def chromium_session(chromium: str, flags: tuple[str, ...]) -> Iterator[Session]:
    """A headless Chromium driven through chromedriver (skipped where there is none, as the
    screenshot tests are)."""
    driver = shutil.which("chromedriver")
    if driver is None:
        pytest.skip("chromedriver not installed: apt-get install -y chromium-driver")
    port = _free_port()
    proc = subprocess.Popen([driver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:  # wait for the driver to listen (a condition with a deadline)
            try:
                if requests.get(f"{base}/status", timeout=2).json()["value"]["ready"]:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("chromedriver did not start within 30 s")
            time.sleep(0.05)
        options = {"binary": chromium, "args": list(flags)}
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}}
        created = requests.post(f"{base}/session", json=caps, timeout=120).json()["value"]
        session = Session(base, created["sessionId"])
        try:
            yield session
        finally:
            requests.delete(session.url, timeout=30)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
