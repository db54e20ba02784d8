"""gunicorn settings for the web process (``gunicorn -c python:bot.web.gunicorn_conf``).

``PORT`` (default 8080) and ``WEB_CONCURRENCY`` (default 2 × CPUs + 1 sync workers) come from
the environment, as on most platforms. No access log: webhook URLs may carry a token in the path.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8080')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = None
errorlog = "-"


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges in Prometheus multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
