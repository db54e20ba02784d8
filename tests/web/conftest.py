"""Status-page fixtures: a Redis populated through the real stores and a real failed rq job."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
from flask import Flask
from rq import Queue

from bot.core.events import CiFinished, Delivery, ImagePushed
from bot.core.group_state import GroupState, IgnoreMark, Pin
from bot.core.intents import UpdateIntent
from bot.core.merge import Mark
from bot.core.outcomes import TargetOutcome
from bot.deps import Container
from bot.errors import ConfigError
from bot.jobs.worker import BotWorker
from bot.settings import Settings
from bot.store.deliveries import DeliveryStore, Outcome
from bot.store.groups import GroupStore
from bot.store.intents import IntentStore
from bot.web import actions, api, headers, status

FAILED_REASON = "rules[0].targets[0]: unknown forge 'gh' (configured: local)"
PR_URL = "https://git.example.com/shop/shop-manifests/pull/7"


def failing_job() -> None:
    """An rq job that fails the way a permanent error does."""
    raise ConfigError(FAILED_REASON)


@dataclass(frozen=True)
class Populated:
    group_key: str
    web_target: str
    api_target: str


def intent(image: str, tag: str, key: int, files: tuple[str, ...]) -> UpdateIntent:
    return UpdateIntent(
        forge="local",
        repo="shop-manifests",
        base_branch="main",
        group="dev",
        environment="dev",
        files=files,
        image=image,
        tag=tag,
        digest=None,
        ordering_scheme="run-number",
        ordering_key=(key,),
    )


def populate(conn: redis.Redis, settings: Settings) -> Populated:
    deliveries = DeliveryStore(conn, settings)
    push = Delivery(
        "d-push-1",
        "dockerhub",
        "",
        (ImagePushed("registry.example.com/shop/web", "1.4.0", None, "dockerhub"),),
    )
    ci = Delivery(
        "d-ci-45",
        "github",
        "",
        (CiFinished("github", "example/api", "a" * 40, "main", "success", run_id=9, run_number=45),),
    )
    bad = Delivery("d-bad-1", "github", "", ())
    refs = {d.id: deliveries.admit(d).ref for d in (push, bad)}
    entries = {e.ref: e.id for e in deliveries.stream.read("status-test", count=10, block_ms=None)}
    refs[ci.id] = deliveries.admit(ci).ref  # still waiting on the stream
    group_key = "local:shop-manifests:main:dev"
    why = [
        TargetOutcome(
            "accepted", "goes into the PR of group `dev`", "registry.example.com/shop/web", "1.4.0", group_key
        ),
        TargetOutcome(
            "skipped", "tag '1.5.0-rc.1' is a <prerelease>", "registry.example.com/shop/web", "1.5.0-rc.1"
        ),
    ]
    done = [
        Outcome(refs["d-push-1"], why),
        Outcome(refs["d-bad-1"], failed="config invalid: <b>bad</b> rule"),
    ]
    deliveries.record_outcomes(done, [entries[o.ref] for o in done])
    deliveries.record_ignored("d-ping", "github", "ping event")
    deliveries.record_ignored("d-<script>", "quay", "unsupported event")

    web = intent("registry.example.com/shop/web", "1.4.0", 140, ("environments/dev/kustomization.yaml",))
    api = intent("ghcr.io/example/api", "run-45", 45, ("environments/dev/kustomization.yaml",))
    IntentStore(conn, settings).merge([web, api])
    state = GroupState(
        ignored=(IgnoreMark("ghcr.io/example/api", (44,), "run-number", "run-44"),),
        pinned=(Pin("registry.example.com/shop/web", "1.4.0"),),
        hold=True,
        last_error="forge said no: permission denied",
    )
    GroupStore(conn, settings).set_fields(
        web.group_key,
        pr_number=7,
        pr_url=PR_URL,
        head_branch="manifest-bot/dev/dev",
        applied={web.target_key: Mark("semver", (1, 3, 0), "1.3.0", None)},
        state=state,
    )

    jobs = Queue(settings.queue("jobs"), connection=conn)
    jobs.enqueue(f"{__name__}.failing_job", job_id=f"{settings.redis_prefix}-reconcile-x")
    BotWorker([jobs], connection=conn).work(burst=True)
    return Populated(web.group_key, web.target_key, api.target_key)


def status_app(settings: Settings, conn: redis.Redis | None = None) -> Flask:
    """A Flask app with only the status page, its JSON API and its buttons (they must not depend
    on the rest)."""
    container = Container(settings)
    if conn is not None:
        container.__dict__["redis"] = conn  # share the test's connection (cached_property slot)
    app = Flask(__name__)
    headers.register(app)  # the security headers every answer of the app carries
    for module in (status, api, actions):
        app.register_blueprint(module.blueprint(container))
    return app


@pytest.fixture
def populated(settings: Settings, redis_conn: redis.Redis) -> Iterator[Populated]:
    yield populate(redis_conn, settings)
