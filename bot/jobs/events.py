"""The event job: ``handle_delivery(ref)``, which also drains the deliveries of a burst behind it.

A burst of webhooks is a queue of delivery jobs. The first one that starts becomes the burst's
*drainer* (``<prefix>:events:draining``): batch after batch it takes up to ``BATCH_MAX`` delivery
jobs from the front of the events queue into the queue's intermediate list (one script, as a
worker takes a job), loads them, plans them in arrival order, merges every intent of the batch in
one transaction, queues one command job per PR comment, marks them processed and only then
deletes their jobs; when the queue is empty it waits up to ``SETTLE_S`` for the next delivery
(blocked on the queue, as a worker waits), and only when the burst is over (or after
``BATCHES_MAX`` rounds) asks each touched group to reconcile once. An event job that starts while
another drains handles its own batch and leaves its groups to the drainer
(``<prefix>:events:groups``), so no reconcile starts mid-burst and is wasted. rq's per-job cost
(~7 ms here) and the merge are paid once per batch instead of once per delivery: measured against
a plain one-delivery-per-job event job with ``bench/race.py``, docs/reconcile.md.

Failures: a failure of ours (a bad config, a bug) puts the taken jobs back at the front of the
queue and fails only the delivery that fails alone (marked failed; a redelivery runs it again),
so one bad delivery never fails the others. A Redis failure marks nothing: the records stay
``queued`` and the taken jobs stay in the intermediate list, where the workers' maintenance puts
them back (``bot.jobs.dequeue.recover_intermediate``); a worker killed mid-batch is covered the
same way, and the sweep (``bot.jobs.sweep``) enqueues again any delivery still ``queued`` whose
job is gone. A delivery handled twice is harmless (its intents merge as duplicates; a comment's
command runs once).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import redis

from bot.core.events import Delivery, Installation, PrComment
from bot.core.outcomes import TargetOutcome, bounded, summary
from bot.errors import BotError
from bot.jobs import runtime
from bot.jobs.schedule import PendingCommand, command_token
from bot.logs import bind, redact
from bot.services.events import apply_deliveries

log = logging.getLogger(__name__)

#: deliveries one batch handles at most (the first job's own included)
BATCH_MAX = 100
#: batches one event job runs while deliveries keep arriving, before it asks for reconciles
BATCHES_MAX = 50
#: once the queue is empty, how long the job waits (blocked on the queue, not sleeping) for the
#: next delivery of a burst before it asks for reconciles: a burst coalesces before any forge call
SETTLE_S = 0.05

# KEYS: the events queue, its intermediate list. ARGV: how many, the delivery job id prefix. Moves
# up to ARGV[1] delivery jobs from the front of the queue into the intermediate list, as a worker
# takes a job (stops at anything else): a drainer killed before it handled them loses nothing,
# the workers' maintenance puts them back (bot.jobs.dequeue.recover_intermediate).
_TAKE = """
local out = {}
for _ = 1, tonumber(ARGV[1]) do
  local id = redis.call('LINDEX', KEYS[1], 0)
  if not id or string.sub(id, 1, #ARGV[2]) ~= ARGV[2] then break end
  redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
  out[#out + 1] = id
end
return out
"""


def handle_delivery(ref: str) -> dict[str, Any]:
    """Handle this delivery and, as the drainer, the burst behind it; then hand the touched
    groups over for one reconcile each."""
    container = runtime.current()
    flag = _keys()[0]
    drainer = bool(container.redis.set(flag, ref, nx=True, px=int(container.settings.lock_timeout_s * 1000)))
    totals: dict[str, Any] = {"delivery": ref, "batch": 0, "intents": 0, "accepted": 0, "superseded": 0}
    groups: set[str] = set()
    try:
        _drain(ref, totals, groups, settle=drainer)
    finally:
        if drainer:
            container.redis.delete(flag)
    for group_key in _hand_over(groups):
        container.scheduler.request_reconcile(group_key)
    return {**totals, "groups": sorted(groups)}


def _drain(own: str | None, totals: dict[str, Any], groups: set[str], *, settle: bool) -> None:
    """Batch after batch while deliveries keep coming, at most ``BATCHES_MAX``. A delivery job is
    taken from the queue only for a batch that handles it: the last round waits for none, so
    nothing taken is left unhandled."""
    prefix = runtime.current().deliveries.job_id("")
    own_job: str | None = None
    for round_ in range(BATCHES_MAX):
        result = _batch(own, own_job)
        own = own_job = None
        for key in ("batch", "intents", "accepted", "superseded"):
            totals[key] += result.get(key, 0)
        groups.update(result.get("groups", ()))
        if round_ == BATCHES_MAX - 1:
            return  # what is still queued runs as its own jobs
        if result.get("taken"):
            continue
        if not settle or (own_job := _next_of_burst()) is None:
            return
        own = own_job[len(prefix) :]


# KEYS: the drain flag, the groups set. ARGV: the groups. While another event job is draining a
# burst, leave the groups to it; else take every group left so far, to ask for them now.
_HAND_OVER = """
if #ARGV > 0 then redis.call('SADD', KEYS[2], unpack(ARGV)) end
if redis.call('EXISTS', KEYS[1]) == 1 then return {} end
local groups = redis.call('SMEMBERS', KEYS[2])
redis.call('DEL', KEYS[2])
return groups
"""


def _keys() -> list[str]:
    settings = runtime.current().settings
    return [settings.key("events", "draining"), settings.key("events", "groups")]


def _hand_over(groups: set[str]) -> list[str]:
    """The groups to ask to reconcile now: none while another job drains the burst (it asks)."""
    script = runtime.current().redis.register_script(_HAND_OVER)
    return sorted(g.decode() for g in script(keys=_keys(), args=sorted(groups)))


def _next_of_burst() -> str | None:
    """Wait up to ``SETTLE_S`` for the next delivery job (moved into the queue's intermediate
    list, as a worker takes one: a crash now loses nothing); its job id, or None when the burst is
    over. This job handles it from here on, so rq never runs its job."""
    container = runtime.current()
    queue = container.queue("events")
    intermediate = queue.intermediate_queue.key
    raw = container.redis.blmove(queue.key, intermediate, SETTLE_S, "LEFT", "RIGHT")
    if raw is None:
        return None
    job_id = raw.decode()
    if job_id.startswith(container.deliveries.job_id("")):
        return job_id
    _put_back([job_id])  # not a delivery: back to the front for a worker
    return None


def _batch(own: str | None, own_job: str | None = None) -> dict[str, Any]:
    """One batch: ``own`` (when given; ``own_job``: its job when this job took it from the queue)
    plus the delivery jobs taken from the front of the queue. A taken job stays in the queue's
    intermediate list until its delivery is handled, then it is deleted (rq never runs it)."""
    container = runtime.current()
    queue = container.queue("events")
    prefix = container.deliveries.job_id("")
    take = container.redis.register_script(_TAKE)
    keys = [queue.key, queue.intermediate_queue.key]
    taken = [i.decode() for i in take(keys=keys, args=[BATCH_MAX - (1 if own else 0), prefix])]
    refs = list(dict.fromkeys([*([own] if own else []), *(job_id[len(prefix) :] for job_id in taken)]))
    if not refs:
        return {}
    mine = [own_job] if own_job else []
    try:
        result = _handle(refs)
    except redis.RedisError:
        raise  # all left queued or taken: put back by the workers' maintenance or the sweep
    except Exception:
        _put_back(taken)  # not theirs to fail: back, in order, to be handled one at a time
        try:
            if own is None:
                return {}
            if taken:
                return _handle_alone(own)
            _fail(own)
            raise
        finally:
            _done(mine)
    _done([*taken, *mine])
    return {**result, "taken": len(taken)}


def _done(job_ids: list[str]) -> None:
    """Jobs whose deliveries this job handled: out of the intermediate list, and gone."""
    if not job_ids:
        return
    container = runtime.current()
    intermediate = container.queue("events").intermediate_queue.key
    with container.redis.pipeline() as pipe:
        for job_id in job_ids:
            pipe.lrem(intermediate, 1, job_id)
            pipe.delete(f"rq:job:{job_id}")
        pipe.execute()


def _put_back(job_ids: list[str]) -> None:
    """Taken jobs back to the front of the queue, in their order."""
    if not job_ids:
        return
    container = runtime.current()
    queue = container.queue("events")
    with container.redis.pipeline() as pipe:
        for job_id in reversed(job_ids):
            pipe.lrem(queue.intermediate_queue.key, 1, job_id)
            pipe.lpush(queue.key, job_id)
        pipe.execute()


def _handle_alone(ref: str) -> dict[str, Any]:
    try:
        return _handle([ref])
    except redis.RedisError:
        raise
    except Exception:
        _fail(ref)
        raise


def _fail(ref: str) -> None:
    exc = sys.exc_info()[1]
    reason = redact(str(exc)) if isinstance(exc, BotError) else type(exc).__name__
    runtime.current().deliveries.mark_failed(ref, reason)


def _handle(refs: list[str]) -> dict[str, Any]:
    container = runtime.current()
    store = container.deliveries
    found = [(r, d) for r in refs if (d := store.get(r)) is not None]
    if not found:
        log.warning("deliveries %s are gone (expired?); nothing to do", refs)
        return {"batch": 0}
    deliveries = [d for _, d in found]
    for delivery in deliveries:  # the App's installations changed: cached clients are stale
        for event in delivery.events:
            if isinstance(event, Installation):
                container.installation_changed(event.installation_id, event.repos)
    login = container.settings.bot_login
    config = container.config_for(deliveries)  # with the manifest repos' own files they reach
    outcome = apply_deliveries(container.intents, config, deliveries, bot_login=login, admit=container.admit)
    for delivery in deliveries:
        _queue_commands(delivery)
    refs = [r for r, _ in found]
    store.mark_processed_many(refs, dict(zip(refs, outcome.per_delivery, strict=True)))
    log_outcomes(deliveries, outcome.per_delivery)
    return {
        "batch": len(deliveries),
        "intents": outcome.intents,
        "accepted": outcome.accepted,
        "superseded": outcome.superseded,
        "groups": outcome.groups,
    }


def log_outcomes(deliveries: list[Delivery], outcomes: list[list[TargetOutcome]]) -> None:
    """One line per delivery: its verdict and every outcome with its reason (docs/operations.md)."""
    for delivery, found in zip(deliveries, outcomes, strict=True):
        verdict, reason = summary(found)
        records = [o.to_dict() for o in bounded(found)[0]]
        with bind(delivery_id=delivery.id, source=delivery.source):
            log.info("delivery %s: %s", verdict or "processed", reason, extra={"outcomes": records})


def _queue_commands(delivery: Delivery) -> None:
    """Chat-ops: each comment is its own job, run under the repo lock."""
    scheduler = runtime.current().scheduler
    for event in delivery.events:
        if isinstance(event, PrComment):
            token = command_token(event)
            scheduler.enqueue_command(PendingCommand(event, delivery.id, None, token))
