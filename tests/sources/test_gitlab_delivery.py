"""GitLab deliveries: the id GitLab keeps across its retries, and every time format GitLab sends
reaching the push-time ordering as an instant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.core.events import CiFinished
from bot.core.versions import ordering_key, time_key
from bot.sources import gitlab

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks" / "gitlab"


def _parse(name: str, **headers: str) -> gitlab.ParseResult:
    body = (FIXTURES / name).read_bytes()
    return gitlab.parse({"x-gitlab-event": "Pipeline Hook", **headers}, body)


def test_idempotency_key_is_the_delivery_id_when_gitlab_sends_it() -> None:
    """GitLab 17.4+ keeps ``Idempotency-Key`` the same on every retry of one event (the event UUID
    header is not documented as stable across retries), so a retry dedupes."""
    first = _parse("pipeline.success.json", **{"idempotency-key": "k-1", "x-gitlab-event-uuid": "u-1"})
    retry = _parse("pipeline.success.json", **{"idempotency-key": "k-1", "x-gitlab-event-uuid": "u-2"})
    assert first.delivery_id == retry.delivery_id == "k-1"


def test_older_gitlab_falls_back_to_the_event_uuid() -> None:
    assert _parse("pipeline.success.json", **{"x-gitlab-event-uuid": "u-1"}).delivery_id == "u-1"


def test_a_pipeline_finish_time_in_gitlabs_own_format_is_orderable() -> None:
    """Pipeline hooks send ``"2016-08-12 15:26:29 UTC"``, which ``datetime.fromisoformat`` rejects."""
    raw = json.loads((FIXTURES / "pipeline.success.json").read_text())["object_attributes"]["finished_at"]
    assert raw == "2016-08-12 15:26:29 UTC"
    (event,) = _parse("pipeline.success.json").events
    assert isinstance(event, CiFinished) and event.finished_at == "2016-08-12T15:26:29Z"
    assert ordering_key("push-time", None, when=event.finished_at) == time_key("2016-08-12T15:26:29Z")


@pytest.mark.parametrize(
    "sent",
    [
        "2016-08-12 15:26:29 UTC",  # GitLab pipeline and job hooks
        "2016-08-12 17:26:29 +0200",  # GitLab on a server with a local time zone
        "2016-08-12T17:26:29+02:00",  # GitLab push hook commit timestamps, ISO 8601
        "2016-08-12T15:26:29.000Z",  # GitLab merge request hooks
        "2016-08-12T15:26:29Z",  # GitHub
        "1471015589",  # epoch seconds (GitHub push ``repository.pushed_at``, Docker Hub)
    ],
)
def test_every_vendor_time_format_orders_as_the_same_instant(sent: str) -> None:
    assert time_key(sent) == (1_471_015_589_000_000,)
    assert gitlab.iso_time(sent) == "2016-08-12T15:26:29Z"


def test_an_unreadable_time_stays_as_sent_and_is_reported_by_the_ordering() -> None:
    assert gitlab.iso_time("yesterday") == "yesterday"


def test_a_pipeline_names_the_jobs_that_succeeded() -> None:
    """GitLab's Pipeline Hook lists the pipeline's jobs (``builds``) with their status; CI rules
    mapping one pipeline to several images (``jobs``, ``{job}``) read the successful ones."""
    data = json.loads((FIXTURES / "pipeline.success.json").read_text())
    statuses = {"build-web": "success", "build-api": "success", "test-api": "failed", "deploy": "skipped"}
    data["builds"] = [
        {**data["builds"][0], "id": i, "name": n, "status": s} for i, (n, s) in enumerate(statuses.items())
    ]
    (event,) = gitlab.parse({"x-gitlab-event": "Pipeline Hook"}, json.dumps(data).encode()).events
    assert isinstance(event, CiFinished) and event.jobs == ("build-api", "build-web")
    (fixture,) = _parse("pipeline.success.json").events  # its only job was skipped
    assert isinstance(fixture, CiFinished) and fixture.jobs == ()
