"""The engine beside each worker's rq loop: it consumes deliveries and, as leader, turns what is
due into jobs.

``manifest-bot worker`` runs rq's worker in its main thread (reconciles, commands, registry
retries, polls and periodic tasks: ``bot.jobs.worker``) and the engine in a second thread with a
composition of its own (``Container``), so the two share nothing but Redis. One loop:

- ask the groups whose intents have settled to reconcile (``Dispatch.request_settled``), then read
  the next batch of deliveries, waiting up to ``BLOCK_MS`` (``bot.jobs.consumer``) or until the
  next settling group's time, whichever is sooner;
- every ``CLAIM_EVERY_S``, take over entries another consumer left pending (a dead worker's);
- every ``TICK_S``, tick the periodic leader (``bot.jobs.leader``);
- before each batch, take a changed routing config (one ``stat``).

``stop()`` (SIGTERM, through the worker) ends the loop after the batch in hand, at most
``BLOCK_MS`` later when it is waiting; the leader gives up the lead so another worker takes over
at once. A Redis failure is logged and the loop waits (``REDIS_BACKOFF_S``, doubling) instead of
dying. ``drain`` is the same work for a process that runs everything in one thread (the demo and
the ``local`` commands).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

import redis

from bot.jobs.consumer import BatchReport, Consumer
from bot.jobs.leader import Leader

log = logging.getLogger(__name__)

BLOCK_MS = 1000
TICK_S = 1.0
CLAIM_EVERY_S = 2.0
REDIS_BACKOFF_S = 0.5
REDIS_BACKOFF_MAX_S = 10.0


class Engine:
    def __init__(
        self,
        consumer: Consumer,
        leader: Leader,
        *,
        before_batch: Callable[[], object] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.consumer = consumer
        self.leader = leader
        self.before_batch = before_batch
        self.clock = clock
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_tick = self._last_claim = float("-inf")

    # --- in a thread (``manifest-bot worker``) ------------------------------------------------------
    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.run, name="manifest-bot-engine", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        self.stopping.set()

    def join(self, timeout: float) -> bool:
        """Wait for the loop to end; False when it did not within ``timeout``."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def run(self) -> None:
        wait = REDIS_BACKOFF_S
        while not self.stopping.is_set():
            try:
                self.turn(block_ms=BLOCK_MS)
                wait = REDIS_BACKOFF_S
            except redis.RedisError as exc:
                log.error("engine: Redis failed (%s); again in %.1f s", type(exc).__name__, wait)
                self.stopping.wait(wait)
                wait = min(wait * 2, REDIS_BACKOFF_MAX_S)
            except Exception:  # a bug must not end consumption: log it loudly and go on
                log.exception("engine: unexpected error; going on")
                self.stopping.wait(REDIS_BACKOFF_S)
        self.leader.release()

    def turn(self, *, block_ms: int | None) -> BatchReport:
        """One round: tick and claim when their time has come, then one batch."""
        now = self.clock()
        if now - self._last_tick >= TICK_S:
            self._last_tick = now
            self.leader.tick()
        report = BatchReport()
        if now - self._last_claim >= CLAIM_EVERY_S:
            self._last_claim = now
            self.before_batch()
            report.add(self.consumer.claim())
        after = self.consumer.dispatch.request_settled()
        if block_ms is not None and after is not None:  # 1 ms at least: 0 would block for ever
            block_ms = max(1, min(block_ms, math.ceil((after - self.consumer.dispatch.clock()) * 1000)))
        self.before_batch()
        report.add(self.consumer.step(block_ms=block_ms))
        return report

    # --- in the caller's thread (the demo, ``manifest-bot local``) ------------------------------------
    def drain(self, *, claim_idle_ms: int | None = None) -> BatchReport:
        """Handle every delivery on the stream now (and, with ``claim_idle_ms``, what others left
        pending that long), then tick the leader once, leaving the periodic tasks to worker
        processes; what was done."""
        report = BatchReport()
        if claim_idle_ms is not None:
            report.add(self.consumer.claim(claim_idle_ms))
        while True:
            self.before_batch()
            batch = self.consumer.step(block_ms=None)
            report.add(batch)
            if not batch.read:
                break
        self.consumer.dispatch.request_settled(everything=True)  # nobody else will be looking
        self.leader.tick(periodic=False)
        return report
