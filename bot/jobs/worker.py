"""The rq worker of the bot's job queue, used through rq's public API.

One queue (``Settings.queue("jobs")``), so rq takes each job through its reliable single-queue
path (``BLMOVE`` into the queue's intermediate list; rq's own maintenance deals with a job whose
worker died there). Jobs run in the worker process (rq's ``SimpleWorker``): the bot's jobs are
short, idempotent and safe to lose (``bot.jobs.dispatch``), and no process is forked per job.

What the bot adds, each through a public method rq's worker classes override themselves:

- ``subscribe``: rq listens for its remote commands on a redis-py ``PubSubWorkerThread`` started
  with ``sleep_time=60``; redis-py 8's ``PubSubWorkerThread.stop()`` joins that thread without a
  timeout, and when the thread has already read the unsubscribe reply it waits the whole 60 s
  for a subscription that never comes (rq/rq#1613): a burst worker's teardown, a second
  ``work(burst=True)`` or a ``kill -TERM`` then takes a minute under load. The bot's worker polls
  its channel every ``PUBSUB_POLL_S`` (rq's own interval before 2.1), so that join is bounded by
  it whatever redis-py does.
- ``execute_job`` / ``get_heartbeat_ttl``: rq's ``SimpleWorker`` cannot heartbeat while its job
  runs, so it registers the job as started for the job's whole timeout plus a minute: a worker
  SIGKILLed mid-job leaves its job "running" for six minutes. The bot's worker heartbeats every
  ``HEARTBEAT_S`` from a thread beside the job (rq's public ``maintain_heartbeats``, what its
  forking worker calls), with a TTL of ``HEARTBEAT_TTL_S``: a dead worker's job is abandoned
  (failed, and resolved once its group reconciles) within seconds, and the status page and every
  quiescence check tell the truth about what is running.
- ``handle_warm_shutdown_request`` (the first SIGTERM/SIGINT): stops the engine beside it
  (``bot.jobs.engine``), and when the job in hand has not finished ``SHUTDOWN_GRACE_S`` later,
  asks rq for its cold shutdown (the second signal rq documents), so the worker is gone within
  ``SHUTDOWN_GRACE_S`` plus a moment. An interrupted job hands its work back: its repo lock is
  released on the way out and its group stays dirty, so the leader queues it again.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from rq import Queue, SimpleWorker
from rq.executions import Execution
from rq.job import Job
from rq.worker import WorkerStatus

# the job code, imported with the worker so every job starts warm
import bot.jobs.automerge
import bot.jobs.commands
import bot.jobs.periodic
import bot.jobs.reconcile
import bot.jobs.registry  # noqa: F401
from bot import metrics

if TYPE_CHECKING:
    from bot.deps import Container

#: how often rq's command listener wakes up (bounds the teardown's wait for it)
PUBSUB_POLL_S = 0.2
#: a job still running this long after SIGTERM is interrupted (cold shutdown)
SHUTDOWN_GRACE_S = 4.0
#: rq's maintenance (its registries' clean-up) at most this often
MAINTENANCE_INTERVAL_S = 30
WORKER_TTL_S = 60
#: a running job's heartbeat, and how long rq keeps it "started" without one
HEARTBEAT_S = 5.0
HEARTBEAT_TTL_S = 15


class BotWorker(SimpleWorker):
    #: called on the first shutdown signal (the engine beside the worker stops)
    on_shutdown: Callable[[], object] = staticmethod(lambda: None)

    def subscribe(self) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(sleep_time=PUBSUB_POLL_S, daemon=True)

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return HEARTBEAT_TTL_S

    def execute_job(self, job: Job, queue: Queue) -> None:
        execution = self.prepare_execution(job)
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job, execution, stop), daemon=True)
        beat.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            stop.set()
            beat.join(timeout=HEARTBEAT_S)
        self.set_state(WorkerStatus.IDLE)

    def _beat(self, job: Job, execution: Execution, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT_S):
            try:
                self.maintain_heartbeats(job, execution)  # only refreshes entries still there
            except Exception:  # Redis away for a moment: the next beat tries again
                self.log.warning("heartbeat of job %s failed", job.id, exc_info=True)

    def handle_warm_shutdown_request(self) -> None:
        super().handle_warm_shutdown_request()
        self.on_shutdown()
        hard_stop = threading.Timer(SHUTDOWN_GRACE_S, os.kill, (os.getpid(), signal.SIGTERM))
        hard_stop.daemon = True  # the process may exit sooner: then it never fires
        hard_stop.start()


def count_failure(job: Job, exc_type: type[BaseException], *_: object) -> bool:
    """rq exception handler: count the failure in metrics, then let rq's handling go on."""
    metrics.FAILED_JOBS.labels(job=job.func_name.rsplit(".", 1)[-1]).inc()
    return True


def build_worker(
    container: Container, *, name: str | None = None, on_shutdown: Callable[[], object] | None = None
) -> BotWorker:
    """The bot's worker on its job queue."""
    worker = BotWorker(
        [container.dispatch.queue],
        connection=container.redis,
        name=name,
        maintenance_interval=MAINTENANCE_INTERVAL_S,
        worker_ttl=WORKER_TTL_S,
        exception_handlers=[count_failure],
    )
    if on_shutdown is not None:
        worker.on_shutdown = on_shutdown
    return worker
