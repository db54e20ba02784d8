"""Benchmark: surgical locate+edit versus a ruamel.yaml round trip (load, set, dump) of the same change.

Corpus: every golden case in tests/fixtures/manifests plus a generated ~1 MiB Helm values file.
For each engine: how many outputs equal the expected bytes, and files per second (best of
``--repeat`` passes over the corpus). The last line of output is JSON:
``files, byte_exact, roundtrip_byte_exact, files_per_s, roundtrip_files_per_s, speed_ratio``.

    .venv/bin/python bench/edit_speed.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.manifests import Edit, Selector, edit, load_text  # noqa: E402
from bot.core.manifests.tree import parse_path  # noqa: E402

CASES = ROOT / "tests" / "fixtures" / "manifests"


@dataclass
class Case:
    name: str
    original: bytes
    expected: bytes
    edits: list[Edit]
    file: str = ""  # the name the file is edited under (Chart.yaml shapes go by it), else ``name``


def golden_cases() -> list[Case]:
    out = []
    for case in sorted(p for p in CASES.iterdir() if (p / "original.yaml").exists()):
        spec = json.loads((case / "edit.json").read_text())
        edits = [
            Edit(
                Selector(
                    image=e.get("image"),
                    chart=e.get("chart"),
                    marker=e.get("marker"),
                    path=e.get("path"),
                    doc=e.get("doc"),
                ),
                tag=e.get("tag"),
                digest=e.get("digest"),
                image=e.get("name"),
                rename="name" in e,
            )
            for e in spec["edits"]
        ]
        out.append(
            Case(
                case.name,
                (case / "original.yaml").read_bytes(),
                (case / "expected.yaml").read_bytes(),
                edits,
                spec.get("file", case.name),
            )
        )
    return out


def big_helm_values(target_bytes: int = 1024 * 1024) -> Case:
    """A values file of many components, each with an image mapping, comments and resources."""
    parts = ["# Generated umbrella chart values\nglobal:\n  imageRegistry: registry.example.com\n\n"]
    i = 0
    while sum(map(len, parts)) < target_bytes:
        parts.append(
            f"component{i}:\n"
            f"  enabled: true\n"
            f"  replicaCount: {i % 5 + 1}\n"
            f"  image:\n"
            f"    repository: acme/component-{i}\n"
            f'    tag: "{i % 7}.{i % 11}.{i % 13}"  # managed\n'
            f"    pullPolicy: IfNotPresent\n"
            f"  resources:\n"
            f"    limits: {{cpu: 500m, memory: 256Mi}}\n"
            f"    requests: {{cpu: 100m, memory: 128Mi}}\n"
            f"  env:\n"
            f"    - name: COMPONENT\n"
            f'      value: "{i}"\n'
            f"  annotations:\n"
            f"    description: >-\n"
            f"      Component {i} of the umbrella chart, with a folded description that a round trip\n"
            f"      may re-flow.\n\n"
        )
        i += 1
    text = "".join(parts)
    target = i // 2
    old = f'repository: acme/component-{target}\n    tag: "{target % 7}.{target % 11}.{target % 13}"'
    new = f'repository: acme/component-{target}\n    tag: "9.9.9"'
    assert text.count(old) == 1
    expected = text.replace(old, new)
    edits = [Edit(Selector(image=f"acme/component-{target}"), tag="9.9.9")]
    return Case(f"generated-{target_bytes}-byte-helm-values", text.encode(), expected.encode(), edits)


def surgical(case: Case) -> bytes:
    file = case.file or case.name
    return edit(load_text(case.original, file), file, case.edits).text.encode("utf-8")


def roundtrip_plan(case: Case) -> list[tuple[int, tuple, str]]:
    """The same change as (doc, path, new value), taken from the surgical engine's result."""
    file = case.file or case.name
    result = edit(load_text(case.original, file), file, case.edits)
    return [(c.doc, parse_path(c.path), c.new) for c in result.changes]


def roundtrip(case: Case, plan: list[tuple[int, tuple, str]]) -> bytes:
    yaml = YAML()
    yaml.preserve_quotes = True
    docs = list(yaml.load_all(case.original.decode("utf-8")))
    for doc, path, value in plan:
        node = docs[doc]
        for seg in path[:-1]:
            node = node[seg]
        node[path[-1]] = value
    out = io.StringIO()
    yaml.dump_all(docs, out)
    return out.getvalue().encode("utf-8")


def timed(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big-bytes", type=int, default=1024 * 1024, help="size of the generated file")
    args = parser.parse_args()
    cases = [*golden_cases(), big_helm_values(args.big_bytes)]
    plans = {c.name: roundtrip_plan(c) for c in cases}

    exact = sum(surgical(c) == c.expected for c in cases)
    rt_exact = 0
    for c in cases:
        try:
            ok = roundtrip(c, plans[c.name]) == c.expected
        except Exception as exc:  # a round-trip failure counts as not byte-exact
            print(f"round trip failed on {c.name}: {exc!r}", file=sys.stderr)
            ok = False
        rt_exact += ok
        print(
            f"{c.name:48} surgical={'exact' if surgical(c) == c.expected else 'DIFF'} "
            f"roundtrip={'exact' if ok else 'diff'}"
        )

    def run_surgical() -> None:
        for c in cases:
            surgical(c)

    def run_roundtrip() -> None:
        for c in cases:
            with contextlib.suppress(Exception):  # timing only; failures are counted above
                roundtrip(c, plans[c.name])

    t_surgical = timed(run_surgical, args.repeat)
    t_roundtrip = timed(run_roundtrip, args.repeat)
    result = {
        "files": len(cases),
        "byte_exact": exact,
        "roundtrip_byte_exact": rt_exact,
        "files_per_s": round(len(cases) / t_surgical, 2),
        "roundtrip_files_per_s": round(len(cases) / t_roundtrip, 2),
        "speed_ratio": round(t_roundtrip / t_surgical, 2),
    }
    print(f"surgical: {t_surgical:.3f}s per pass; round trip: {t_roundtrip:.3f}s per pass")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
