"""config/example.env documents every environment variable the service reads (README's claim)."""

from __future__ import annotations

import re
from pathlib import Path

from bot import metrics

ROOT = Path(__file__).resolve().parents[1]
_READ = re.compile(r"""(?:environ(?:\.get)?[(\[]|getenv\()\s*["']([A-Z][A-Z0-9_]+)["']""")


def documented() -> set[str]:
    text = (ROOT / "config" / "example.env").read_text(encoding="utf-8")
    return set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))


def test_every_variable_the_code_reads_is_in_example_env() -> None:
    read = {metrics.MULTIPROC_ENV}
    for source in (ROOT / "bot").rglob("*.py"):
        read.update(_READ.findall(source.read_text(encoding="utf-8")))
    assert {"HOST", "PORT", "WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR"} <= read
    assert read - documented() == set()
