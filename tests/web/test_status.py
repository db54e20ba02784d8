"""GET / through Flask's test client: what an operator reads on the status page, and who may."""

from __future__ import annotations

import base64
from collections.abc import Callable
from html.parser import HTMLParser

import redis
from pydantic import SecretStr

from bot.settings import Settings
from tests.web.conftest import FAILED_REASON, PR_URL, Populated, status_app


class Text(HTMLParser):
    """Visible text of the page, per element class (enough to assert on table cells)."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.chunks.append(data.strip())

    @property
    def text(self) -> str:
        return " ".join(self.chunks)


def visible(html: str) -> str:
    parser = Text()
    parser.feed(html)
    return parser.text


def test_page_shows_deliveries_groups_versions_queues_and_failed_jobs(
    settings: Settings, redis_conn: redis.Redis, populated: Populated
) -> None:
    response = status_app(settings, redis_conn).test_client().get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    text = visible(html)
    # deliveries with outcome and reason
    assert 'data-delivery="d-push-1"' in html and "processed" in text
    assert "ping event" in text and "ignored" in text
    assert "image-pushed ×1" in text and "ci-finished ×1" in text
    # the group, its PR, wanted vs in-PR versions, ignore, pin, hold, last error
    assert f'data-group="{populated.group_key}"' in html
    assert "#7" in text and "manifest-bot/dev/dev" in text
    assert "1.4.0" in text and "1.3.0" in text  # wanted web 1.4.0, the PR applies 1.3.0
    assert "run-45" in text and "run-44" in text  # wanted api run-45, run-44 ignored
    assert "on hold" in text and "forge said no: permission denied" in text
    # queue depth: one delivery (the CI run) is still on the stream; one failed job with its reason
    assert '<strong id="queue-depth">1</strong>' in html
    assert '<strong id="failed-count">1</strong>' in html
    assert f"bot.errors.ConfigError: {FAILED_REASON}" in text.replace("&#39;", "'")


def test_untrusted_text_is_escaped(settings: Settings, redis_conn: redis.Redis, populated: Populated) -> None:
    html = status_app(settings, redis_conn).test_client().get("/").get_data(as_text=True)
    assert "d-<script>" not in html and "d-&lt;script&gt;" in html
    assert "<b>bad</b>" not in html and "config invalid: &lt;b&gt;bad&lt;/b&gt; rule" in html


def test_empty_store_renders_empty_sections(settings: Settings, redis_conn: redis.Redis) -> None:
    response = status_app(settings, redis_conn).test_client().get("/")
    text = visible(response.get_data(as_text=True))
    assert response.status_code == 200
    assert "No update groups yet." in text and "No deliveries yet." in text and "No failed jobs." in text


def test_redis_down_still_renders_and_says_so(make_settings: Callable[..., Settings]) -> None:
    down = make_settings(redis_url="redis://127.0.0.1:1/0")
    response = status_app(down).test_client().get("/")
    assert response.status_code == 200
    text = visible(response.get_data(as_text=True))
    assert "deliveries: Redis unavailable" in text and "groups: Redis unavailable" in text


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_token_protects_the_page(make_settings: Callable[..., Settings], redis_conn: redis.Redis) -> None:
    settings = make_settings(status_token=SecretStr("s3cret-token"))
    client = status_app(settings, redis_conn).test_client()

    refused = client.get("/")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert "s3cret" not in refused.get_data(as_text=True)
    for header in (
        "Bearer wrong",
        basic("ops", "wrong"),
        "Basic !!notbase64",
        "Token s3cret-token",
        "Bearer ",
    ):
        assert client.get("/", headers={"Authorization": header}).status_code == 401, header

    assert client.get("/", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    assert client.get("/", headers={"Authorization": basic("anyone", "s3cret-token")}).status_code == 200


def test_refresh_is_opt_in_and_headers_forbid_caching_and_scripts(
    settings: Settings, redis_conn: redis.Redis
) -> None:
    client = status_app(settings, redis_conn).test_client()
    plain = client.get("/")
    assert 'http-equiv="refresh"' not in plain.get_data(as_text=True)
    assert plain.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in plain.headers["Content-Security-Policy"]
    refreshing = client.get("/?refresh=10").get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="10">' in refreshing


def test_each_delivery_says_why_with_a_link_to_the_pr(
    settings: Settings, redis_conn: redis.Redis, populated: Populated
) -> None:
    client = status_app(settings, redis_conn).test_client()
    html = client.get("/").get_data(as_text=True)
    # the group's last reconcile failed and its branch holds 1.3.0: the delivery's 1.4.0 is not there
    assert '<td class="verdict verdict-update-failed">update failed</td>' in html
    why = html[html.index('<tr class="why" data-delivery="d-push-1">') :]
    why = why[: why.index("</tr>")]
    assert f'<a class="pr-link" href="{PR_URL}">PR #7</a>' in why
    assert "goes into the PR of group `dev`" in visible(why).replace("&#96;", "`")
    assert "is a &lt;prerelease&gt;" in why and "<prerelease>" not in why  # reasons are text
    # the same, as JSON
    record = client.get("/api/deliveries/d-push-1").get_json()
    assert record["verdict"] == "update failed"
    assert record["reason"].startswith("dev: forge said no: permission denied (accepted: ")
    assert "registry.example.com/shop/web 1.4.0: goes into the PR" in record["reason"]
    assert [(o["status"], o["pr_number"], o["pr_url"]) for o in record["outcomes"]] == [
        ("accepted", 7, PR_URL),
        ("skipped", None, ""),
    ]
    assert client.get(f"/api/deliveries/{record['ref']}").get_json()["id"] == "d-push-1"  # by ref too
    listed = client.get("/api/deliveries?limit=2").get_json()["deliveries"]
    assert len(listed) == 2
    groups = client.get("/api/groups").get_json()["groups"]
    assert [(g["key"], g["pr_number"], g["hold"]) for g in groups] == [(populated.group_key, 7, True)]
