"""Groups are asked to reconcile once their own intents have been quiet, never later than the cap
after the first, once however many consumers merged them, and never lost to a dying consumer."""

from __future__ import annotations

import redis

from bot.settings import Settings
from bot.store.due import DueSet
from bot.store.settling import Settling

DEV, PROD = "local:m:main:dev", "local:m:main:prod"


def settling(conn: redis.Redis, settings: Settings) -> Settling:
    safety = settings.key("due", "reconcile")
    return Settling(conn, settings.key("settling"), safety, settle_s=0.05, max_wait_s=1.0, safety_s=10.0)


def test_a_group_is_asked_once_its_own_intents_have_been_quiet(
    redis_conn: redis.Redis, settings: Settings
) -> None:
    s = settling(redis_conn, settings)
    s.settle([DEV, PROD], now=100.0)
    s.settle([DEV], now=100.04)  # dev's burst goes on; prod's stopped
    assert s.take(100.049) == ([], 100.05)
    assert s.take(100.05) == ([PROD], 100.09)
    s.asked([PROD], 100.05)
    assert s.take(100.089) == ([], 100.09)
    assert s.take(100.09) == ([DEV], None)
    assert s.count() == 1  # on its way until asked
    s.asked([DEV], 100.09)
    assert s.take(200.0) == ([], None) and s.count() == 0  # taken once


def test_a_group_that_never_goes_quiet_is_asked_at_the_cap_after_its_first_intent(
    redis_conn: redis.Redis, settings: Settings
) -> None:
    s = settling(redis_conn, settings)
    for step in range(30):  # an intent every 40 ms for 1.2 s
        s.settle([DEV], now=100.0 + step * 0.04)
        taken, _ = s.take(100.0 + step * 0.04)
        if taken:
            break
    assert taken == [DEV] and 100.0 + step * 0.04 >= 101.0 > 100.0 + (step - 1) * 0.04
    s.asked(taken, 100.0 + step * 0.04)
    s.settle([DEV], now=101.05)  # the next burst counts from its own first intent
    assert s.take(101.09) == ([], 101.1)


def test_two_consumers_merging_one_group_ask_for_it_once(redis_conn: redis.Redis, settings: Settings) -> None:
    first, second = settling(redis_conn, settings), settling(redis_conn, settings)
    first.settle([DEV], now=100.0)
    second.settle([DEV], now=100.03)
    assert first.take(100.06) == ([], 100.08)  # the other consumer's intent moved it on
    assert second.take(100.08) == ([DEV], None)
    assert first.take(100.2) == ([], 105.08)  # the other one took it: not twice
    second.asked([DEV], 100.08)
    assert first.take(100.3) == ([], None)


def test_an_intent_after_the_take_keeps_the_group_settling(
    redis_conn: redis.Redis, settings: Settings
) -> None:
    s = settling(redis_conn, settings)
    s.settle([DEV], now=100.0)
    assert s.take(100.05) == ([DEV], None)
    s.settle([DEV], now=100.06)  # came while the request was being made: it may have missed it
    s.asked([DEV], 100.05)
    assert s.take(100.11) == ([DEV], None)


def test_a_group_whose_taker_died_before_asking_comes_back(
    redis_conn: redis.Redis, settings: Settings
) -> None:
    s = settling(redis_conn, settings)
    s.settle([DEV], now=100.0)
    assert s.take(100.05)[0] == [DEV]  # and then the process died
    assert s.take(105.05) == ([DEV], None)


def test_a_settling_group_is_in_the_leaders_safety_net_should_its_consumer_die(
    redis_conn: redis.Redis, settings: Settings
) -> None:
    s = settling(redis_conn, settings)
    safety = DueSet(redis_conn, settings.key("due", "reconcile"))
    safety.at({PROD: 105.0})
    s.settle([DEV, PROD], now=100.0)
    s.settle([DEV], now=100.5)
    assert safety.when(DEV) == 110.0  # the first intent's safety time, not moved on by later ones
    assert safety.when(PROD) == 105.0  # a sooner one is kept


def test_everything_is_taken_at_once_by_a_process_that_drains(
    redis_conn: redis.Redis, settings: Settings
) -> None:
    s = settling(redis_conn, settings)
    s.settle([DEV, PROD], now=100.0)
    taken, _ = s.take(100.0, everything=True)
    assert sorted(taken) == [DEV, PROD]
    s.asked(taken, 100.0)
    assert s.count() == 0
