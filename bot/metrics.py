"""Prometheus metrics of the whole service, on one registry of our own (``REGISTRY``).

Import a metric and use it: ``from bot.metrics import FORGE_REQUESTS;
FORGE_REQUESTS.labels(forge="github", status="200").inc()``. Each metric belongs to the process
that records it: intake and queue depth to the web process (``render("web")``, ``GET /metrics``),
everything else to the worker (``serve``, the worker's own port). A process exports only its own,
so the web never shows a ``manifest_bot_config_refused 0`` of its own next to the worker's 1.

With ``PROMETHEUS_MULTIPROC_DIR`` set before this module is imported, values live in files there
and a scrape adds up every process's (gunicorn workers). ``manifest-bot serve`` makes a private
directory when none is given and removes it when gunicorn exits (``bot.cli.intake``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.metrics_core import Metric

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = CONTENT_TYPE_LATEST
#: the names of the metrics the web process records (``_web``); every other one is the worker's
WEB_METRICS: set[str] = set()


def _web(name: str) -> str:
    WEB_METRICS.add(name)
    return name


# --- intake ------------------------------------------------------------------------------------
#: outcome: accepted | ignored | duplicate | unauthorized | bad_request | too_large |
#: unknown_source | unavailable
DELIVERIES = Counter(
    _web("manifest_bot_deliveries"),
    "Webhook deliveries by source and outcome",
    ["source", "outcome"],
    registry=REGISTRY,
)
SIGNATURE_FAILURES = Counter(
    _web("manifest_bot_signature_failures"),
    "Deliveries refused for a missing or wrong signature/token",
    ["source"],
    registry=REGISTRY,
)
EVENTS = Counter(
    _web("manifest_bot_events"), "Normalised events accepted, by kind", ["source", "kind"], registry=REGISTRY
)
HTTP_ERRORS = Counter(
    _web("manifest_bot_http_errors"), "Error responses by HTTP status", ["status"], registry=REGISTRY
)
INTAKE_SECONDS = Histogram(
    _web("manifest_bot_intake_duration_seconds"),
    "Time to verify, parse, record and enqueue one delivery",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
    registry=REGISTRY,
)

# --- planning and reconcile ---------------------------------------------------------------------
#: outcome: created | superseded | skipped
INTENTS = Counter("manifest_bot_intents", "Update intents by outcome", ["outcome"], registry=REGISTRY)
#: outcome: the PR lifecycle's action (opened | updated | noop | regenerated | closed | blocked |
#: pushed | held), or conflict (observed again) | error
RECONCILE_RUNS = Counter(
    "manifest_bot_reconcile_runs", "Reconcile runs by outcome", ["outcome"], registry=REGISTRY
)
RECONCILE_SECONDS = Histogram(
    "manifest_bot_reconcile_duration_seconds",
    "Duration of one reconcile run",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)

# --- forges and queues ------------------------------------------------------------------------
FORGE_REQUESTS = Counter(
    "manifest_bot_forge_requests",
    "Requests to a forge API by forge and HTTP status (or 'error' for no response)",
    ["forge", "status"],
    registry=REGISTRY,
)
#: kind: manifest | tags | token; status: the HTTP status, or 'error' for no response
REGISTRY_REQUESTS = Counter(
    "manifest_bot_registry_requests",
    "Requests to container registries (and their token endpoints) by registry host, kind and status",
    ["registry", "kind", "status"],
    registry=REGISTRY,
)
RATE_LIMIT_REMAINING = Gauge(
    "manifest_bot_forge_rate_limit_remaining",
    "Requests left in the forge's current rate-limit window",
    ["forge", "scope"],
    registry=REGISTRY,
    multiprocess_mode="min",
)
QUEUE_DEPTH = Gauge(
    _web("manifest_bot_queue_depth"),
    "Jobs waiting in each rq queue (sampled at scrape time)",
    ["queue"],
    registry=REGISTRY,
    multiprocess_mode="max",
)
FAILED_JOBS = Counter("manifest_bot_failed_jobs", "rq jobs that failed, by job", ["job"], registry=REGISTRY)

# --- periodic jobs: sweep, resync, webhook recovery (bot.jobs.periodic) ---
PERIODIC_RUNS = Counter(
    "manifest_bot_periodic_runs",
    "Periodic job runs by job and outcome",
    ["job", "outcome"],
    registry=REGISTRY,
)
PERIODIC_SECONDS = Histogram(
    "manifest_bot_periodic_duration_seconds",
    "Duration of one periodic job run",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300),
    registry=REGISTRY,
)
RECOVERED = Counter(
    "manifest_bot_recovered",
    "Work the periodic jobs found lost and put back, by kind",
    ["kind"],
    registry=REGISTRY,
)
#: outcome: new (merged what it found) | unchanged (what the last poll found) | failed
POLLS = Counter(
    "manifest_bot_polls",
    "Registry polls of one image (bot.services.poll), by outcome",
    ["outcome"],
    registry=REGISTRY,
)
#: outcome: asked (GitHub accepted the redelivery) | error (it refused) | gave_up (attempts ran out)
REDELIVERIES = Counter(
    "manifest_bot_webhook_redeliveries",
    "Redeliveries of failed GitHub App webhook deliveries the bot asked for, by forge and outcome",
    ["forge", "outcome"],
    registry=REGISTRY,
)
#: what the resync found and acted on: base_moved | pr_merged | pr_closed | locks_freed | errors
RESYNC = Counter(
    "manifest_bot_resync",
    "What the periodic resync found changed without an event, by kind",
    ["kind"],
    registry=REGISTRY,
)
WEBHOOK_HEALTH = Gauge(
    "manifest_bot_webhook_healthy",
    "1 when a forge webhook delivers to us, 0 when it is disabled or failing (GitLab project hooks)",
    ["forge", "project"],
    registry=REGISTRY,
    multiprocess_mode="min",
)

# --- the routing config (bot.services.config_reload) ---
CONFIG_RELOADS = Counter(
    "manifest_bot_config_reloads",
    "Routing config files read after a change, by outcome (loaded | refused)",
    ["outcome"],
    registry=REGISTRY,
)
CONFIG_REFUSED = Gauge(
    "manifest_bot_config_refused",
    "1 while the newest routing config file is refused (the worker runs the one before it)",
    registry=REGISTRY,
    multiprocess_mode="max",
)


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
Process = Literal["web", "worker"]


class _Own:
    """A collector of the metric families of one process, read from ``source``."""

    def __init__(self, source: CollectorRegistry, process: Process) -> None:
        self.source, self.process = source, process

    def collect(self) -> Iterator[Metric]:
        for family in self.source.collect():
            # a counter's family is named with its `_total` when read from the multiprocess files
            if (family.name.removesuffix("_total") in WEB_METRICS) == (self.process == "web"):
                yield family


def scrape_registry(process: Process) -> CollectorRegistry:
    """What a scrape of ``process`` reads: its metrics, with every process's values in
    multiprocess mode, else this process's."""
    source = REGISTRY
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        source = CollectorRegistry()
        multiprocess.MultiProcessCollector(source)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Own(source, process))
    return registry


def render(process: Process = "web") -> bytes:
    """The Prometheus text exposition of ``process``'s metrics (all workers in multiprocess mode)."""
    return generate_latest(scrape_registry(process))


def serve(port: int, addr: str = "127.0.0.1") -> None:
    """Serve the worker's ``/metrics`` from this process on a daemon thread (rq workers have no
    web server). OSError when the port is taken."""
    start_http_server(port, addr=addr, registry=scrape_registry("worker"))
