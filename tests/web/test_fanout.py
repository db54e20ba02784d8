"""Attack 8 of the second round: a signed Harbor push listing 3,000 tags of one image is taken up
to ``MAX_IMAGES_PER_DELIVERY`` images; the rest is recorded, on the status page's list of
deliveries, as ignored with its reason. Repeats of one reference count once."""

from __future__ import annotations

import json
from collections.abc import Callable

import redis

from bot.settings import Settings
from bot.sources.base import MAX_IMAGES_PER_DELIVERY
from bot.store.deliveries import DeliveryStore
from tests.web.intake_support import all_secrets, auth, make_app


def harbor_push(tags: list[str]) -> bytes:
    resources = [
        {"tag": t, "resource_url": f"harbor.example.com/library/nginx:{t}", "digest": ""} for t in tags
    ]
    return json.dumps(
        {"type": "PUSH_ARTIFACT", "occur_at": 1680501893, "event_data": {"resources": resources}}
    ).encode()


def test_a_push_of_three_thousand_tags_is_taken_to_the_cap_and_the_rest_ignored_with_why(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    settings = make_settings(webhook_secrets=all_secrets())
    body = harbor_push([f"1.0.{i}" for i in range(3000)])
    url, headers = auth("harbor", body)
    resp = make_app(settings, redis_conn).test_client().post(url, data=body, headers=headers)
    assert resp.status_code == 202
    answer = resp.get_json()
    assert answer["accepted"] == MAX_IMAGES_PER_DELIVERY

    store = DeliveryStore(redis_conn, settings)
    taken = store.record(answer["delivery"])
    assert taken is not None and len(taken.events) == MAX_IMAGES_PER_DELIVERY
    assert [e.tag for e in taken.events][-1] == f"1.0.{MAX_IMAGES_PER_DELIVERY - 1}"
    over = store.record(answer["delivery"] + "-over-cap")
    assert over is not None and over.status == "ignored"
    assert (
        f"listed 3000 images; the first {MAX_IMAGES_PER_DELIVERY} were taken and 2900 ignored" in over.reason
    )


def test_repeats_of_one_reference_count_once(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    settings = make_settings(webhook_secrets=all_secrets())
    body = harbor_push(["1.0.0"] * 3000)
    url, headers = auth("harbor", body)
    answer = make_app(settings, redis_conn).test_client().post(url, data=body, headers=headers).get_json()
    assert answer["accepted"] == 1
    assert DeliveryStore(redis_conn, settings).record(answer["delivery"] + "-over-cap") is None
