"""Every benchmark runs as the README prints it (``.venv/bin/python bench/<name>.py`` from the
repository root) and ends with a JSON line; here at a tiny size, so they cannot rot unnoticed.
The figures themselves are not judged here: performance is measured by the benchmarks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_REDIS_URL

ROOT = Path(__file__).resolve().parents[1]

ATTACKS = [
    "--slow", "4", "--wait", "5", "--registry-timeout", "0.5", "--trickle-s", "2",
    "--trickle-interval", "0.1", "--tags", "150", "--lines", "20",
]  # fmt: skip
TINY = {
    "recovery": (["--kills", "1"], {"kills", "max_s", "p50_s", "failed_jobs", "target_met"}),
    "soak": (
        ["--deliveries", "300", "--seconds", "10"],
        {"max_keys_after_1min", "intake_p99_ms_last_min", "failed_jobs", "targets"},
    ),
    "edit_speed": (["--repeat", "1", "--big-bytes", "20000"], {"byte_exact", "speed_ratio"}),
    "forge_calls": ([], {"github", "gitlab", "naive_github"}),
    "release_notes": (
        ["--images", "2"],
        {"forge_requests_per_version_max", "forge_requests_cached", "registry_requests_cached", "target_met"},
    ),
    "deployments": (
        ["--prs", "3", "--reports", "5", "--flips", "2"],
        {"reports_per_s", "forge_reads_per_pr_told", "forge_writes_per_pr_told", "calls_repeat"},
    ),
    "discovery": (
        ["--files", "40", "--small", "10", "--rounds", "1"],
        {"big_cold_s", "big_second_s", "warm_ratio_big_to_small", "cold_speedup_vs_old", "meets_cold_target"},
    ),
    "planning": (["--rules", "3", "--events", "10"], {"events_per_s", "intents"}),
    "helm_index": (
        ["--versions", "200", "--others", "2", "--repeat", "1"],
        {"parse_ms_p50", "parse_cpu_ms_p50", "revalidate_status", "meets_goal"},
    ),
    "config_reload": (["--rules", "3", "--checks", "50"], {"check_us", "reload_ms", "repo_file_cached_us"}),
    "regex": (
        ["--max-backtrack", "14", "--long", "1000", "--tags", "50"],
        {"re_extrapolated_s_at_37", "re2_s_at_37", "typical_re_us", "typical_re2_us"},
    ),
    "intake": (
        ["--duration", "0.5", "--warmup", "0.2", "--rounds", "1", "--workers", "1", "--client-procs", "1"],
        {"app_rps", "bare_rps", "ratio", "app_p99_ms"},
    ),
    "registry": (
        ["--images", "1", "--tags", "2", "--resolves", "5"],
        {
            "requests_per_event_warm",
            "requests_per_event_cold",
            "poll_requests_per_image",
            "resolve_p50_ms",
            "planned_requests_per_event_warm",
            "planned_requests_per_event_cold",
        },
    ),
    "polling": (
        ["--images", "20", "--repos", "2", "--changed", "2", "--idle", "2"],
        {"registry_requests_per_image", "redis_commands_per_image", "cycle_s", "idle_commands_per_tick"},
    ),
    "scale_out": (
        ["--repos", "2", "--deliveries", "8", "--latency-ms", "0", "--workers", "1,2", "--timeout", "120"],
        {"runs", "ratio_2_vs_1"},
    ),
    "attacks": (
        ATTACKS,
        {
            "healthz_s",
            "delivery_s",
            "registry_hold_s",
            "fanout_images",
            "fanout_registry_requests",
            "flood_commands_run",
        },
    ),
    "race": (
        ["--events", "12", "--baseline-events", "4", "--workers", "1", "--timeout", "120"],
        {"lost", "downgrades", "writes_per_event", "p95_latency_s", "write_ratio"},
    ),
}


def test_every_benchmark_is_covered() -> None:
    scripts = {p.stem for p in (ROOT / "bench").glob("*.py") if not p.stem.startswith("_")}
    assert scripts - {"race_baseline"} == set(TINY)


def run_bench(name: str, args: list[str], **extra_env: str) -> subprocess.CompletedProcess[str]:
    """``bench/<name>.py`` from the root, with none of the caller's settings, on the tests' Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MANIFEST_BOT_", "PYTHONPATH"))}
    env["MANIFEST_BOT_TEST_REDIS_URL"] = TEST_REDIS_URL
    return subprocess.run(
        [sys.executable, f"bench/{name}.py", *args],
        cwd=ROOT,
        env=env | extra_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY))
def test_benchmark_runs_from_the_root_and_ends_with_json(name: str) -> None:
    args, keys = TINY[name]
    result = run_bench(name, args)
    assert result.returncode == 0, result.stderr[-3000:]
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert keys <= set(last), last


@pytest.mark.slow
def test_intake_benchmark_fails_when_the_app_does_not_answer() -> None:
    # a setting the app refuses: gunicorn listens, its workers never load the app
    result = run_bench("intake", TINY["intake"][0], MANIFEST_BOT_NO_SUCH_SETTING="1")
    assert result.returncode == 1, result.stdout
    assert "bench/intake.py: the app server " in result.stderr
    assert "MANIFEST_BOT_NO_SUCH_SETTING: unknown setting" in result.stderr  # its log says why
    assert '"ratio"' not in result.stdout
