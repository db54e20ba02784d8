"""Discovery benchmark: a push reconciled into local git repositories of 10 and 5,000 manifest
files (``--small``, ``--files``), each file a Deployment naming its own image, found by
auto-discovery; all files in one directory unless ``--per-dir`` says how many per directory.

For each size, on a new repository and a new Redis key prefix (fresh process state each round):

- ``cold``: the first reconcile (``sync_group``: discovery, edit, commit, PR) after a new base,
  with every cache empty;
- ``warm``: a person commits one changed file to the base, then a push for another image is
  reconciled by the same process (its caches hold the files that did not change); the median of
  ``--warm`` such pushes;
- ``warm_discovery``: the same, discovery alone (``resolve_files``); ``cold_discovery``: cold;
- ``second``: a second worker process (a new forge object and a new ScanCache, the same Redis)
  reconciles a push on that base, cold in its own memory.

The same run measures the engine as it was (``old_*``): blobs read as ``<commit>:<path>`` (git
walks the tree once per file), scans kept per base in one process only (a new base or another
worker scans every file again); and the two ways of reading every YAML file with one
``git cat-file --batch`` (``read_by_path_s``, ``read_by_sha_s``). Figures are medians over
``--rounds``; the two sizes take turns within a round. Needs Redis at
$MANIFEST_BOT_TEST_REDIS_URL or 127.0.0.1:6379.

    .venv/bin/python bench/discovery.py [--files 5000] [--small 10] [--rounds 3] [--warm 5] [--per-dir 0]

Last line: JSON with the figures in seconds, the ratios and whether the targets of issue 20 are
met (cold 5,000-file push <= 1.5 s; warm 5,000-file push <= 2x the 10-file one). Exit status 1
when it cannot measure (no Redis, a push that does not open its PR, a cache that does not hold).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bot.forges.local.adapter import LocalGitForge  # noqa: E402
from bot.services.files import resolve_files  # noqa: E402
from bot.services.lifecycle import SyncResult, sync_group  # noqa: E402
from bot.services.scans import ScanCache, scanner_version  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import namespace  # noqa: E402
from bot.store.scans import ScanStore  # noqa: E402
from tests.forges.local_fixture import human_commit  # noqa: E402
from tests.services.lifecycle_fixture import REPO, intent  # noqa: E402

REDIS_URL = os.environ.get("MANIFEST_BOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
GIT_ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"}

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app{i}
  labels: {{app: app{i}, team: team{team}}}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: app{i}}}
  template:
    metadata:
      labels: {{app: app{i}}}
    spec:
      containers:
        - name: app
          image: ghcr.io/acme/app{i}:1.0.0
          ports:
            - containerPort: 8080
          env:
            - {{name: LOG_LEVEL, value: info}}
          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
        - name: proxy
          image: docker.io/envoyproxy/envoy:v1.29.1
"""


class Failed(Exception):
    """The benchmark could not measure what it says (exit status 1)."""


@dataclass(frozen=True)
class Layout:
    """Where file ``i`` lives: ``per_dir`` files per directory, 0 for all in one (the layout where
    ``<commit>:<path>`` reads cost most: git searches the directory's tree once per file)."""

    per_dir: int = 0

    def path(self, i: int) -> str:
        return f"apps/g{i // self.per_dir:03d}/app{i:04d}.yaml" if self.per_dir else f"apps/app{i:04d}.yaml"


def make_repo(root: Path, files: int, layout: Layout) -> Path:
    """A bare repository ``root/acme/deploy.git`` with ``files`` manifests on ``main``, written by
    one ``git fast-import`` (seconds faster than a ``hash-object`` per file)."""
    path = root / f"{REPO}.git"
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["git", "init", "-q", "--bare", "--initial-branch=main", str(path)], check=True, env=GIT_ENV
    )
    stream = [b"commit refs/heads/main\ncommitter Seed <seed@example.com> 1700000000 +0000\n"]
    message = b"manifests\n"
    stream.append(b"data %d\n%s" % (len(message), message))
    for i in range(files):
        body = MANIFEST.format(i=i, team=i % 7).encode()
        stream.append(b"M 100644 inline %s\ndata %d\n%s\n" % (layout.path(i).encode(), len(body), body))
    readme = b"manifests\n"
    stream.append(b"M 100644 inline README.md\ndata %d\n%s\n" % (len(readme), readme))
    subprocess.run(
        ["git", "-C", str(path), "fast-import", "--quiet"], input=b"".join(stream), check=True, env=GIT_ENV
    )
    return path


class OldWay:
    """The local forge as it read files before: ``cat-file --batch`` of ``<commit>:<path>`` names,
    and a tree listing without blob shas (so discovery cannot key scans by content)."""

    def __init__(self, inner: LocalGitForge) -> None:
        self.inner = inner
        self.info = inner.info

    def __getattr__(self, name: str) -> Any:
        if name == "list_blobs":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def read_files(self, repo: str, paths: Sequence[str], ref: str) -> dict[str, bytes | None]:
        git = self.inner.git(repo)
        commit = git.require(ref)
        wanted = list(dict.fromkeys(paths))
        names = [f"{commit}:{p}".encode() for p in wanted]
        raw = git.run("cat-file", "--batch", "-z", input=b"".join(n + b"\0" for n in names)).stdout
        return dict(zip(wanted, batch_answers(raw, names), strict=True))


def batch_answers(raw: bytes, names: Sequence[bytes]) -> list[bytes | None]:
    """The blobs of a ``cat-file --batch`` answer, in request order (None: missing)."""
    out: list[bytes | None] = []
    pos = 0
    for name in names:
        missing = name + b" missing\n"
        if raw.startswith(missing, pos):
            out.append(None)
            pos += len(missing)
            continue
        end = raw.index(b"\n", pos)
        _sha, kind, size = raw[pos:end].split(b" ")
        start, stop = end + 1, end + 1 + int(size)
        out.append(raw[start:stop] if kind == b"blob" else None)
        pos = stop + 1
    return out


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def push(forge: Any, n: int, cache: ScanCache, group: str, layout: Layout) -> SyncResult:
    """Reconcile a push of app{n} 1.1.0 in its own group (its own branch and PR)."""
    wanted = intent(image=f"ghcr.io/acme/app{n}", tag="1.1.0", files=(), group=group)
    result = sync_group(forge, [wanted], cache=cache)
    if result.action != "opened" or [c.file for c in result.changes] != [layout.path(n)]:
        raise Failed(f"push of app{n}: {result.action}, changed {[c.file for c in result.changes]}")
    return result


def change_one_file(forge: LocalGitForge, layout: Layout, n: int) -> str:
    """A person commits one changed file (app1's labels) to the base; the new base sha."""
    return human_commit(forge, REPO, "main", {layout.path(1): MANIFEST.format(i=1, team=100 + n)})


def one_round(files: int, conn: redis.Redis, tmp: Path, *, layout: Layout, warm: int) -> dict[str, float]:
    prefix = f"mbbench{uuid.uuid4().hex[:8]}"
    out: dict[str, float] = {}
    try:
        out |= measure_new(files, conn, tmp / f"new-{files}-{prefix}", prefix, layout=layout, warm=warm)
        out |= measure_old(files, tmp / f"old-{files}-{prefix}", layout)
        out |= measure_reads(tmp / f"new-{files}-{prefix}")
    finally:
        namespace.drop(conn, prefix)
        namespace.drop(conn, prefix + "d")
    return out


def measure_new(
    files: int, conn: redis.Redis, root: Path, prefix: str, *, layout: Layout, warm: int
) -> dict[str, float]:
    out: dict[str, float] = {}
    settings = Settings.model_validate({"redis_url": REDIS_URL, "redis_prefix": prefix})
    store = ScanStore(conn, settings, version=scanner_version())
    make_repo(root, files, layout)
    forge, cache = LocalGitForge(root), ScanCache(store=store)
    out["cold"], _ = timed(lambda: push(forge, 0, cache, "cold", layout))
    warm_s = []
    for k in range(warm):
        change_one_file(forge, layout, k)
        warm_s.append(timed(lambda k=k: push(forge, 2, cache, f"warm{k}", layout))[0])
    out["warm"] = statistics.median(warm_s)
    base = change_one_file(forge, layout, warm)
    wanted = intent(image="ghcr.io/acme/app4", tag="1.1.0", files=())
    out["warm_discovery"], found = timed(lambda: resolve_files(forge, wanted, base, cache=cache))
    if found != [layout.path(4)]:
        raise Failed(f"discovery found {found}")
    if cache.stats.scanned != files + warm + 1:
        raise Failed(f"expected {files + warm + 1} files scanned in one process, saw {cache.stats}")
    second_forge, second = LocalGitForge(root), ScanCache(store=store)
    out["second"], _ = timed(lambda: push(second_forge, 3, second, "second", layout))
    if second.stats.scanned != 0 or second.stats.shared != files:
        raise Failed(f"the second process should have read every scan from Redis: {second.stats}")

    fresh_root = root.with_name(root.name + "-d")
    make_repo(fresh_root, files, layout)
    fresh_settings = Settings.model_validate({"redis_url": REDIS_URL, "redis_prefix": prefix + "d"})
    fresh = ScanCache(store=ScanStore(conn, fresh_settings, version=scanner_version()))
    cold_forge = LocalGitForge(fresh_root)
    fresh_base = cold_forge.branch_head(REPO, "main") or ""
    out["cold_discovery"], found = timed(lambda: resolve_files(cold_forge, wanted, fresh_base, cache=fresh))
    if found != [layout.path(4)]:
        raise Failed(f"discovery found {found}")
    return out


def measure_old(files: int, root: Path, layout: Layout) -> dict[str, float]:
    """The same pushes, the old way: ``<commit>:<path>`` reads, scans kept per base, per process
    (one warm push: each costs a whole re-scan, seconds at 5,000 files)."""
    out: dict[str, float] = {}
    make_repo(root, files, layout)
    old, old_cache = OldWay(LocalGitForge(root)), ScanCache(max_files=0)
    out["old_cold"], _ = timed(lambda: push(old, 0, old_cache, "cold", layout))
    change_one_file(old.inner, layout, 0)
    out["old_warm"], _ = timed(lambda: push(old, 2, old_cache, "warm", layout))
    old_second = OldWay(LocalGitForge(root))
    out["old_second"], _ = timed(lambda: push(old_second, 3, ScanCache(max_files=0), "second", layout))
    return out


def measure_reads(root: Path) -> dict[str, float]:
    """Every YAML file of the base in one ``cat-file --batch``: by ``<commit>:<path>``, by sha."""
    out: dict[str, float] = {}
    git = LocalGitForge(root).git(REPO)
    head = git.require("refs/heads/main")
    listing = git.blob_listing(head)
    yaml_paths = [p for p in listing if p.endswith(".yaml")]
    names = [f"{head}:{p}".encode() for p in yaml_paths]
    out["read_by_path"], by_path = timed(
        lambda: git.run("cat-file", "--batch", "-z", input=b"".join(n + b"\0" for n in names)).stdout
    )
    shas = [listing[p].sha for p in yaml_paths]
    out["read_by_sha"], by_sha = timed(lambda: git.read_objects(shas))
    if batch_answers(by_path, names) != [by_sha[s] for s in shas]:
        raise Failed("reads by path and by sha differ")
    return out


def median_rounds(
    sizes: Sequence[int], rounds: int, conn: redis.Redis, tmp: Path, *, layout: Layout, warm: int
) -> list[dict[str, float]]:
    """Per size, the median of each figure over ``rounds``; the sizes take turns within a round,
    so a machine that gets busier meanwhile weighs on both alike."""
    one_round(
        5, conn, tmp, layout=layout, warm=1
    )  # imports, compiled patterns, git's first start: not measured
    runs: list[list[dict[str, float]]] = [[] for _ in sizes]
    for _ in range(rounds):
        for i, files in enumerate(sizes):
            runs[i].append(one_round(files, conn, tmp, layout=layout, warm=warm))
    return [{k: round(statistics.median(r[k] for r in size), 4) for k in size[0]} for size in runs]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-dir", type=int, default=0, help="files per directory (0: one directory)")
    parser.add_argument("--warm", type=int, default=5, help="warm pushes per round (the median counts)")
    args = parser.parse_args()
    layout = Layout(args.per_dir)
    if args.small < 5 or args.files < args.small or args.warm < 1 or args.rounds < 1:
        parser.error("--small must be at least 5, --files at least --small, --warm and --rounds at least 1")
    conn = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        conn.ping()
    except redis.RedisError as exc:
        print(f"discovery bench: Redis at {REDIS_URL} does not answer: {exc}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="mb-bench-discovery-") as tmp:
        try:
            small, big = median_rounds(
                (args.small, args.files), args.rounds, conn, Path(tmp), layout=layout, warm=args.warm
            )
        except (Failed, subprocess.CalledProcessError) as exc:
            print(f"discovery bench could not measure: {exc}", file=sys.stderr)
            return 1
    for name, figures in ((f"{args.small} files", small), (f"{args.files} files", big)):
        print(f"{name}: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in figures.items()))
    result: dict[str, Any] = {
        "files": args.files,
        "small": args.small,
        "rounds": args.rounds,
        "per_dir": args.per_dir,
        "warm_pushes": args.warm,
    }
    for prefix, figures in (("small", small), ("big", big)):
        result |= {f"{prefix}_{k}_s": v for k, v in figures.items()}
    result |= {
        "warm_ratio_big_to_small": round(big["warm"] / small["warm"], 2),
        "warm_discovery_ratio_big_to_small": round(big["warm_discovery"] / small["warm_discovery"], 2),
        "cold_speedup_vs_old": round(big["old_cold"] / big["cold"], 2),
        "warm_speedup_vs_old": round(big["old_warm"] / big["warm"], 2),
        "second_speedup_vs_old": round(big["old_second"] / big["second"], 2),
        "read_by_path_over_by_sha": round(big["read_by_path"] / big["read_by_sha"], 2),
        "old_warm_ratio_big_to_small": round(big["old_warm"] / small["old_warm"], 2),
    }
    result["meets_cold_target"] = big["cold"] <= 1.5
    result["meets_warm_target"] = result["warm_ratio_big_to_small"] <= 2.0
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
