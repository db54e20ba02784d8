"""Benchmark: load a large routing config and plan a stream of events against it.

Config: ``--rules`` rules (a third exact images, a third globs, a third CI rules), 3 targets each
with semver policies. Events: registry pushes and CI runs that hit, miss, or are refused by policy.
``--policies`` also turns on issue 25's: the exact-image rules order by an ``extract``ed part
(``order: semver``) and prod separates majors (``pr.separate_major``) and holds tags younger
than three days back (``policy.min_release_age``; the planner marks them, the registry gate asks)
under ``pr.limits`` (applied by the reconcile, not the planner) for linux/amd64 and linux/arm64
(``policy.platforms``: planned here, checked by the registry gate).
The last line of output is JSON: ``rules, targets, load_ms, events, intents, skips, events_per_s``.

    .venv/bin/python bench/planning.py [--rules 300] [--events 5000] [--policies]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.config import load_config  # noqa: E402
from bot.core.events import CiFinished, Event, ImagePushed  # noqa: E402
from bot.core.planning import plan  # noqa: E402


def config_text(rules: int, policies: bool = False) -> str:
    lines = ["forges:", "  - {name: github, kind: github}"]
    if policies:
        prod = (
            "{pr: {separate_major: true, limits: {open: 10, per_hour: 5}},"
            " policy: {min_release_age: 3d, platforms: [linux/amd64, linux/arm64]}}"
        )
        lines += [f"environments: {{dev: {{}}, staging: {{}}, prod: {prod}}}"]
    lines.append("rules:")
    for i in range(rules):
        lines.append(f"  - name: r{i}")
        if i % 3 == 0:
            lines.append(f"    image: ghcr.io/acme/app{i}")
        elif i % 3 == 1:
            lines.append(f"    image_glob: 'ghcr.io/team{i}/*'")
        else:
            lines.append(f"    ci: {{repo: acme/app{i}, image: ghcr.io/acme/ci{i}, tag: '{{short_sha}}'}}")
        if policies and i % 3 == 0:
            lines.append("    policy: {extract: '^(?P<v>[0-9.]+)$', order: semver, ignore: ['1.4.*']}")
        else:
            lines.append("    policy: {semver: '^1.2', ignore: ['1.4.*']}")
        lines.append("    targets:")
        for env in ("dev", "staging", "prod"):  # each environment discovers in its own directory
            lines.append(
                f"      - {{forge: github, repo: acme/deploy, environment: {env}, "
                f"discover: {{include: ['envs/{env}/**']}}}}"
            )
    return "\n".join(lines) + "\n"


def events(rules: int, n: int, rng: random.Random) -> list[Event]:
    out: list[Event] = []
    for k in range(n):
        i = rng.randrange(rules)
        tag = f"1.{rng.randint(0, 9)}.{rng.randint(0, 9)}"
        if i % 3 == 2:
            sha = f"{rng.getrandbits(160):040x}"
            out.append(CiFinished("github", f"acme/app{i}", sha, "main", "success", k, k))
        elif i % 3 == 1:
            out.append(ImagePushed(f"ghcr.io/team{i}/svc", tag, None, "ghcr", "2024-05-01T10:00:00Z"))
        else:
            out.append(ImagePushed(f"ghcr.io/acme/app{i}", tag, None, "ghcr", "2024-05-01T10:00:00Z"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rules", type=int, default=300)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--policies", action="store_true", help="extract/order and separate_major on")
    args = parser.parse_args()
    text = config_text(args.rules, args.policies)
    start = time.perf_counter()
    config = load_config(text, "bench.yaml")
    load_ms = (time.perf_counter() - start) * 1000
    stream = events(args.rules, args.events, random.Random(1))
    intents = skips = 0
    start = time.perf_counter()
    for event in stream:
        result = plan(event, config, delivery_id="bench")
        intents += len(result.intents)
        skips += len(result.skips)
    elapsed = time.perf_counter() - start
    summary = {
        "rules": args.rules,
        "targets": 3 * args.rules,
        "load_ms": round(load_ms, 1),
        "events": args.events,
        "intents": intents,
        "skips": skips,
        "events_per_s": round(args.events / elapsed),
        "policies": args.policies,
    }
    print(f"planned {args.events} events against {args.rules} rules in {elapsed:.2f}s")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
