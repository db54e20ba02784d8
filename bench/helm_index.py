"""A Helm repository's ``index.yaml``: how long reading one of ``--versions`` versions takes.

Writes an index the shape ``helm repo index`` writes (a dozen keys per version: apiVersion,
appVersion, created, description, digest, home, maintainers, name, sources, urls, version) with
``--versions`` versions of one chart plus ``--others`` small charts, serves it on loopback with an
``ETag``, and measures:

- ``parse_ms_p50`` / ``parse_ms_max``: ``bot.registry.helm_index.parse_index`` over ``--repeat``
  runs (the goal: at most 200 ms for 5,000 versions), and ``parse_cpu_ms_p50``, the CPU time
  it took (what a busy machine's wall clock adds is not the parser's);
- ``cold_fetch_ms``: ``HelmRepositories`` asking the repository the first time (one GET, parse);
- ``revalidate_ms`` and ``revalidate_requests``: asked again after its cache TTL, nothing
  published (one conditional GET answered ``304``, no parsing);
- ``yaml_load_ms``: PyYAML's C loader building the whole index, for comparison.

    .venv/bin/python bench/helm_index.py [--versions 5000] [--others 20] [--repeat 5]

Last line: JSON with those keys.
"""

from __future__ import annotations

import argparse
import http.server
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.registry.helm_index import parse_index  # noqa: E402
from bot.registry.helm_repo import HelmRepositories  # noqa: E402

GOAL_MS = 200.0


def index_text(versions: int, others: int) -> bytes:
    lines = ["apiVersion: v1", "entries:"]
    charts = [("podinfo", versions)] + [(f"other-{n}", 5) for n in range(others)]
    for chart, count in charts:
        lines.append(f"  {chart}:")
        for i in range(count):
            version = f"{i // 100}.{i % 100}.{i % 7}"
            lines += [
                "  - apiVersion: v2",
                f"    appVersion: {version}",
                f'    created: "2024-01-{i % 28 + 1:02d}T10:00:00.000000000Z"',
                f"    description: {chart} Helm chart for Kubernetes",
                f"    digest: {i:064x}",
                f"    home: https://github.com/example/{chart}",
                "    maintainers:",
                "    - email: maintainer@example.com",
                "      name: maintainer",
                f"    name: {chart}",
                "    sources:",
                f"    - https://github.com/example/{chart}",
                "    urls:",
                f"    - https://charts.example.com/{chart}-{version}.tgz",
                f"    version: {version}",
            ]
    lines.append('generated: "2024-05-02T10:00:00Z"')
    return ("\n".join(lines) + "\n").encode()


def serve(body: bytes) -> tuple[http.server.ThreadingHTTPServer, list[int]]:
    answers: list[int] = []
    etag = '"bench"'

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, data = (304, b"") if self.headers.get("If-None-Match") == etag else (200, body)
            answers.append(status)
            self.send_response(status)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=5000)
    parser.add_argument("--others", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    body = index_text(args.versions, args.others)

    timings, cpu = [], []
    for _ in range(args.repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        charts = parse_index(body, "bench")
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    assert len(charts["podinfo"]) == len({f"{i // 100}.{i % 100}.{i % 7}" for i in range(args.versions)})
    started = time.perf_counter()
    yaml.load(body, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    yaml_ms = (time.perf_counter() - started) * 1000

    server, answers = serve(body)
    now = [0.0]
    repos = HelmRepositories(requests.Session(), cache_ttl=30, clock=lambda: now[0])
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        started = time.perf_counter()
        repos.versions(url, "podinfo")
        cold = (time.perf_counter() - started) * 1000
        now[0] += 31
        before = len(answers)
        started = time.perf_counter()
        repos.versions(url, "podinfo")
        revalidate = (time.perf_counter() - started) * 1000
        revalidated = answers[before:]
    finally:
        server.shutdown()
        server.server_close()
    p50 = statistics.median(timings)
    print(
        json.dumps(
            {
                "versions": args.versions,
                "index_bytes": len(body),
                "parse_ms_p50": round(p50, 1),
                "parse_ms_max": round(max(timings), 1),
                "parse_cpu_ms_p50": round(statistics.median(cpu), 1),
                "yaml_load_ms": round(yaml_ms, 1),
                "cold_fetch_ms": round(cold, 1),
                "revalidate_ms": round(revalidate, 1),
                "revalidate_requests": len(revalidated),
                "revalidate_status": revalidated,
                "goal_parse_ms": GOAL_MS,
                "meets_goal": p50 <= GOAL_MS,
            }
        )
    )


if __name__ == "__main__":
    main()
