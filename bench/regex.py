"""Benchmark: config regexes on Python's backtracking ``re`` versus RE2 (``bot.core.patterns``).

1. The issue-#12 pattern ``^(\\d+\\.?)+$`` against ``"1" * n + "a"`` (no match: the worst case).
   ``re`` doubles its time with every character, so it is measured only up to ``--max-backtrack``
   characters and extrapolated to the 37-character tag of the report; RE2 is measured at 37 and
   at ``--long`` characters.
2. Ordinary patterns (a semver allow, a deny suffix, an image_regex) over ``--tags`` realistic tags:
   the cost per match of each engine, so the switch is seen to cost nothing on normal input.

The last line of output is JSON: ``re_s`` (n → seconds), ``re_extrapolated_s_at_37``,
``re2_s_at_37``, ``re2_s_at_long``, ``typical_re_us``, ``typical_re2_us``.

    .venv/bin/python bench/regex.py [--max-backtrack 24] [--long 100000] [--tags 20000]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.patterns import user_regex  # noqa: E402

EVIL = r"^(\d+\.?)+$"
REPORTED = 37
ORDINARY = (r"^v?\d+\.\d+\.\d+$", r"-(debug|test)$", r"ghcr\.io/acme/[a-z-]+")


def seconds(run: Callable[[], object], repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def backtracking(max_n: int, long_n: int) -> dict[str, object]:
    slow = re.compile(EVIL)
    fast = user_regex(EVIL)
    re_s = {n: seconds(lambda n=n: slow.search("1" * n + "a")) for n in range(max_n - 4, max_n + 1)}
    growth = re_s[max_n] / re_s[max_n - 1] if re_s[max_n - 1] > 0 else 2.0
    return {
        "re_s": {str(n): round(s, 6) for n, s in re_s.items()},
        "re_growth_per_char": round(growth, 2),
        "re_extrapolated_s_at_37": round(re_s[max_n] * 2.0 ** (REPORTED - max_n), 1),
        "re2_s_at_37": seconds(lambda: fast.search("1" * REPORTED + "a"), repeat=5),
        "re2_s_at_long": seconds(lambda: fast.search("1" * long_n + "a"), repeat=3),
        "long": long_n,
    }


def typical(count: int) -> dict[str, float]:
    tags = [f"v{i % 7}.{i % 13}.{i % 101}" + ("-debug" if i % 9 == 0 else "") for i in range(count)]
    names = [f"ghcr.io/acme/service-{i % 50}" for i in range(count)]
    inputs = [tags, tags, names]
    engines = {"re": [re.compile(p) for p in ORDINARY], "re2": [user_regex(p) for p in ORDINARY]}
    out = {}
    for engine, compiled in engines.items():

        def run(compiled: list = compiled) -> None:
            for pattern, texts in zip(compiled, inputs, strict=True):
                for text in texts:
                    pattern.search(text)

        out[f"typical_{engine}_us"] = round(seconds(run, repeat=3) / (count * len(ORDINARY)) * 1e6, 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-backtrack", type=int, default=24)
    parser.add_argument("--long", type=int, default=100_000)
    parser.add_argument("--tags", type=int, default=20_000)
    args = parser.parse_args()
    result = {**backtracking(args.max_backtrack, args.long), **typical(args.tags)}
    print(f"re, {EVIL!r} on '1'*n+'a': " + ", ".join(f"n={n}: {s}s" for n, s in result["re_s"].items()))
    print(f"re extrapolated to n=37: {result['re_extrapolated_s_at_37']} s")
    print(f"re2 at n=37: {result['re2_s_at_37']:.2e} s; at n={args.long}: {result['re2_s_at_long']:.2e} s")
    print(f"ordinary patterns per match: re {result['typical_re_us']} µs, re2 {result['typical_re2_us']} µs")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
