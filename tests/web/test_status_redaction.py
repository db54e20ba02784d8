"""The status page and the stored errors pass the one redaction (issue #12): whatever reached
Redis — a delivery's failure reason, a group's last error, the exception rq kept for a failed
job — the page shows no credential, no credential-bearing URL and no server directory."""

from __future__ import annotations

import pytest
import redis

from bot import logs
from bot.core.events import Delivery, ImagePushed
from bot.core.group_state import GroupState
from bot.core.outcomes import TargetOutcome
from bot.deps import Container
from bot.errors import ForgeError
from bot.jobs.dispatch import Dispatch
from bot.jobs.worker import BotWorker
from bot.services import events
from bot.settings import Settings
from bot.store.deliveries import DeliveryStore, Outcome
from bot.store.groups import GroupStore
from tests.engine_support import consume
from tests.web.conftest import status_app
from tests.web.test_status import visible

TOKEN = "ghp_Q1w2E3r4T5y6U7i8O9p0AsDfGhJkLzXcVbNm"
REMOTE = "https://deploy:Pl41nP4ssw0rdValue@git.example.com/acme/deploy.git"
SECRET = "registered-webhook-secret-value"


def leaking_job() -> None:
    raise ForgeError(f"push to {REMOTE} failed: token {TOKEN} (hook {SECRET})")


def test_the_status_page_shows_no_secret_whatever_redis_holds(
    settings: Settings, redis_conn: redis.Redis
) -> None:
    logs.add_secrets([SECRET])
    error = f"git push to {REMOTE} failed: {TOKEN}"
    groups = GroupStore(redis_conn, settings)
    groups.set_fields("local:acme/deploy:main:dev", state=GroupState(last_error=error))
    jobs = Dispatch(redis_conn, settings).queue
    jobs.enqueue(f"{__name__}.leaking_job", job_id=f"{settings.redis_prefix}-reconcile-leak")
    BotWorker([jobs], connection=redis_conn).work(burst=True)
    deliveries = DeliveryStore(redis_conn, settings)
    pushed = Delivery("d-leaky", "generic", "", (ImagePushed("ghcr.io/acme/api", "1.0.0", None, "generic"),))
    ref = deliveries.admit(pushed).ref
    leaky = TargetOutcome("skipped", f"no rule routes {REMOTE} ({TOKEN})", "ghcr.io/acme/api", "1.0.0")
    deliveries.record_outcomes([Outcome(ref, [leaky])], [])
    client = status_app(settings, redis_conn).test_client()
    html = client.get("/").get_data(as_text=True)
    text = visible(html)
    assert "git.example.com/acme/deploy.git" in text  # the host and path stay: they help
    api = client.get("/api/deliveries/d-leaky").get_data(as_text=True)
    assert "git.example.com/acme/deploy.git" in api
    for leaked in (TOKEN, "Pl41nP4ssw0rdValue", SECRET, "//deploy:"):
        assert leaked not in html and leaked not in api


def test_a_failed_deliverys_reason_is_stored_redacted(
    settings: Settings, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = Container(settings)
    container.__dict__["redis"] = redis_conn
    store = DeliveryStore(redis_conn, settings)
    pushed = ImagePushed("ghcr.io/acme/api", "1.0.0", None, "generic")
    store.admit(Delivery("d-fails", "generic", "", (pushed,)))

    def fails(*_args: object, **_kwargs: object) -> None:
        raise ForgeError(f"cannot plan: {REMOTE} answered token {TOKEN}")

    monkeypatch.setattr(events, "apply_deliveries", fails)
    # never read: planning fails first
    monkeypatch.setattr(container.config_source, "for_deliveries", lambda _deliveries: object())
    consume(container)
    record = store.record("d-fails")
    assert record is not None and record.status == "failed"
    assert record.reason == "cannot plan: https://git.example.com/acme/deploy.git answered token [redacted]"
