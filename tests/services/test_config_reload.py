"""After a routing config reload: the first process to run with the new config asks exactly the
groups with an open PR whose PR settings changed to reconcile; a refusal is recorded for the
status page and cleared when the file in use is back."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import redis

from bot.core.config import load_config
from bot.core.intents import UpdateIntent
from bot.services.config_reload import after_reload
from bot.services.config_source import Refusal, Reload
from bot.settings import Settings
from bot.store.config_state import ConfigStateStore
from bot.store.intents import IntentStore

CONFIG = """\
forges: [{name: gh, kind: github}]
environments: {dev: {pr: {labels: [dev]}}, prod: {pr: {labels: [prod]}}}
rules:
  - name: api
    image: ghcr.io/acme/api
    targets:
      - {forge: gh, repo: acme/deploy, environment: dev, files: [dev.yaml]}
      - {forge: gh, repo: acme/deploy, environment: prod, files: [prod.yaml]}
"""


def intent(env: str) -> UpdateIntent:
    return UpdateIntent(
        forge="gh",
        repo="acme/deploy",
        base_branch="main",
        group=env,
        environment=env,
        files=(f"{env}.yaml",),
        image="ghcr.io/acme/api",
        tag="1.1.0",
        digest=None,
        ordering_scheme="semver",
        ordering_key=(1, 1, 0, 1, 0),
    )


def test_only_open_prs_whose_settings_changed_are_asked_to_reconcile(
    settings: Settings, redis_conn: redis.Redis
) -> None:
    intents, state = IntentStore(redis_conn, settings), ConfigStateStore(redis_conn, settings)
    for env in ("dev", "prod"):
        key = intent(env).group_key
        intents.merge([intent(env)])
        intents.groups.set_fields(key, pr_number={"dev": 1, "prod": 2}[env])
        intents.mark_applied(key, intents.snapshot(key).generation)
    old = load_config(CONFIG, "bot.yaml")
    first = Reload("loaded", "bot.yaml", old, "d1")
    asked: list[str] = []
    assert after_reload(first, state=state, intents=intents, request_reconcile=asked.append, now=1.0) == [
        "gh:acme/deploy:main:dev",  # nobody ran with a known config before: every open PR
        "gh:acme/deploy:main:prod",
    ]
    asked.clear()
    for key in ("gh:acme/deploy:main:dev", "gh:acme/deploy:main:prod"):  # as their reconciles would
        intents.mark_applied(key, intents.snapshot(key).generation)
    new = load_config(CONFIG.replace("labels: [prod]", "labels: [prod, release]"), "bot.yaml")
    change = Reload("loaded", "bot.yaml", new, "d2", old, "d1")
    assert after_reload(change, state=state, intents=intents, request_reconcile=asked.append, now=2.0) == [
        "gh:acme/deploy:main:prod"
    ]
    assert asked == ["gh:acme/deploy:main:prod"] and intents.dirty("gh:acme/deploy:main:prod")
    assert not intents.dirty("gh:acme/deploy:main:dev")
    again = after_reload(change, state=state, intents=intents, request_reconcile=asked.append, now=3.0)
    assert again == []  # another worker taking the same file finds it claimed


def test_a_refusal_is_recorded_until_the_file_in_use_is_back(
    settings: Settings, redis_conn: redis.Redis
) -> None:
    intents, state = IntentStore(redis_conn, settings), ConfigStateStore(redis_conn, settings)
    config = load_config(CONFIG, "bot.yaml")
    after_reload(
        Reload("loaded", "bot.yaml", config, "d1"),
        state=state,
        intents=intents,
        request_reconcile=print,
        now=1.0,
    )
    refusal = Refusal("bot.yaml", "d2", ("bot.yaml:3: rules[0].imag: unknown key 'imag'",))
    refused = Reload("refused", "bot.yaml", config, "d1", refusal=refusal)
    after_reload(refused, state=state, intents=intents, request_reconcile=print, now=2.0)
    status = state.get()
    assert (status.digest, status.refused_digest, status.problems) == ("d1", "d2", refusal.problems)
    back = replace(refused, outcome="restored", refusal=None)
    after_reload(back, state=state, intents=intents, request_reconcile=print, now=3.0)
    assert not state.get().refused and state.get().digest == "d1"


def test_the_status_page_shows_the_refusal(
    settings: Settings, redis_conn: redis.Redis, tmp_path: Path
) -> None:
    from bot.app import create_app

    state = ConfigStateStore(redis_conn, settings)
    state.loaded("/etc/bot.yaml", "a" * 64, 1_700_000_000.0)
    state.refused(
        "/etc/bot.yaml", "b" * 64, ("bot.yaml:3: rules[0].imag: unknown key 'imag'",), 1_700_000_100.0
    )
    page = create_app(settings=settings).test_client().get("/").get_data(as_text=True)
    assert 'sha256 <code class="config-digest">aaaaaaaaaaaa</code>' in page
    assert "A new routing config was refused</strong> at 2023-11-14 22:15:00 UTC" in page
    assert "rules[0].imag: unknown key &#39;imag&#39;" in page
