"""The status page in a real headless Chromium (Debian's ``chromium``), served by a live server.

``.ci/run`` installs chromium when this file exists. Outside CI a missing browser skips the test;
in CI (``CI`` set) it fails, so the browser check can never silently stop running.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from pydantic import SecretStr
from rq import Queue
from rq.registry import FailedJobRegistry
from werkzeug.serving import make_server

from bot.settings import Settings
from tests.integration.world import wait_for
from tests.web.conftest import FAILED_REASON, Populated, populate, status_app
from tests.web.webdriver import chromium_session

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed (.ci/run installs it for this test)")
    pytest.skip("chromium not installed: apt-get install -y chromium")


@contextmanager
def live_server(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def browse(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium_binary(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_browser_renders_every_section(
    settings: Settings, redis_conn: redis.Redis, populated: Populated, tmp_path: Path
) -> None:
    with live_server(status_app(settings, redis_conn)) as base:
        dom = browse(f"{base}/", tmp_path / "profile", "--dump-dom")
        shot = tmp_path / "status.png"
        screenshot = browse(
            f"{base}/", tmp_path / "profile2", f"--screenshot={shot}", "--window-size=1280,1600"
        )
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    # the DOM the browser built (after parsing, entity decoding and layout) has every section
    assert "<title>manifest-bot status</title>" in html
    for section in ("groups", "deliveries", "queues", "failed"):
        assert f'<section id="{section}">' in html, section
    assert f'data-group="{populated.group_key}"' in html
    assert '<td class="wanted"><code>run-45</code></td>' in html
    assert '<td class="current"><code>1.3.0</code></td>' in html
    assert '<td class="outcome outcome-processed">processed</td>' in html
    assert '<strong id="queue-depth">1</strong>' in html
    assert FAILED_REASON.split("'")[0] in html
    # untrusted text stayed text: no element was created from it
    assert "<script" not in html
    # and it paints: a real PNG of a non-trivial size
    assert screenshot.returncode == 0, screenshot.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_browser_gets_the_basic_challenge_and_gets_in_with_the_token(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis, tmp_path: Path
) -> None:
    settings = make_settings(status_token=SecretStr("browser-token"))
    with live_server(status_app(settings, redis_conn)) as base:
        refused = browse(f"{base}/", tmp_path / "p1", "--dump-dom")
        with_token = browse(
            base.replace("http://", "http://ops:browser-token@") + "/", tmp_path / "p2", "--dump-dom"
        )
    # headless Chromium cannot show the login prompt the Basic challenge asks for
    assert "ERR_INVALID_AUTH_CREDENTIALS" in refused.stderr and 'id="groups"' not in refused.stdout
    assert with_token.returncode == 0, with_token.stderr[-2000:]
    assert '<section id="groups">' in with_token.stdout


def test_the_dismiss_button_removes_a_failed_job(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis, tmp_path: Path
) -> None:
    """A real click in a real browser: the form post carries the page's form token and the basic-auth
    credentials the browser holds for the page, and lands back on the page without the job."""
    settings = make_settings(status_token=SecretStr("browser-token"))
    populate(redis_conn, settings)
    job_id = f"{settings.redis_prefix}-reconcile-x"
    failed = FailedJobRegistry(queue=Queue(settings.queue("jobs"), connection=redis_conn))
    assert failed.get_job_ids() == [job_id]
    flags = (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}")
    with (
        live_server(status_app(settings, redis_conn)) as base,
        chromium_session(chromium_binary(), flags) as browser,
    ):
        browser.get(base.replace("http://", "http://ops:browser-token@") + "/")
        assert f'data-job="{job_id}"' in browser.source()
        browser.click(f'tr[data-job="{job_id}"] button[name="dismiss"]')
        wait_for(lambda: "No failed jobs." in browser.source(), 30, "the page after the click")
        assert browser.current_url().endswith("/#failed")
    assert failed.get_job_ids() == []
