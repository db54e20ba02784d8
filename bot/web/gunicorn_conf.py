"""gunicorn settings for the web process (``gunicorn -c python:bot.web.gunicorn_conf``).

``HOST`` (default ``127.0.0.1``: this machine only; the container image sets ``0.0.0.0``, where
the pod's network is the boundary), ``PORT`` (default 8080), ``WEB_CONCURRENCY`` (default
2 × CPUs + 1 workers) and ``WEB_THREADS`` (default 32 per worker) come from the environment, as on
most platforms. Workers are ``bot.web.worker.DeadlineWorker``: threaded, idle connections held by
a poller rather than a thread, and every request given ``WEB_READ_DEADLINE_S`` (10) from its first
byte to arrive whole, so slow clients cannot hold the tier. No access log: webhook URLs may carry
a token in the path.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8080')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "bot.web.worker.DeadlineWorker"
threads = int(os.environ.get("WEB_THREADS", "32"))
#: open connections per worker (idle and kept-alive ones wait on its poller, not on a thread)
worker_connections = 1000
timeout = 30
graceful_timeout = 20
keepalive = 5
#: request line and header bounds (gunicorn's defaults, spelled out: they bound the header read)
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = None
errorlog = "-"

#: what ``manifest-bot serve`` takes from here (the rest are gunicorn's defaults)
SETTINGS = (
    "bind",
    "workers",
    "worker_class",
    "threads",
    "worker_connections",
    "timeout",
    "graceful_timeout",
    "keepalive",
    "limit_request_line",
    "limit_request_fields",
    "limit_request_field_size",
)


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges in Prometheus multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
