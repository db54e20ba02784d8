"""GitHub's published definitions, installed from the npm registry at the versions pinned in
``tests/contracts/vendor/package-lock.json`` into the ignored ``.cache/vendor-schemas``.

``.ci/run`` installs them and exports ``CONTRACT_TESTS=required``: there, a missing schema
fails the contract tests. Elsewhere they are installed on first use when ``npm`` exists, and the
tests are skipped, saying why, only when it does not.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PINNED = Path(__file__).resolve().parent / "vendor"
CACHE = ROOT / ".cache" / "vendor-schemas"
MODULES = CACHE / "node_modules" / "@octokit"
FILES = {
    "openapi": MODULES / "openapi" / "generated" / "api.github.com.json",
    # the introspection result: the SDL file of this release defines a few fields twice
    "graphql": MODULES / "graphql-schema" / "schema.json",
    "webhooks": MODULES / "openapi-webhooks" / "generated" / "api.github.com.json",
}


def required() -> bool:
    return os.environ.get("CONTRACT_TESTS") == "required" or bool(os.environ.get("CI"))


def _pinned_versions() -> dict[str, str]:
    return json.loads((PINNED / "package.json").read_text())["dependencies"]


def _installed_versions() -> dict[str, str]:
    out = {}
    for name in _pinned_versions():
        manifest = CACHE / "node_modules" / name / "package.json"
        if manifest.exists():
            out[name] = json.loads(manifest.read_text())["version"]
    return out


def _install() -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy(PINNED / name, CACHE / name)
    subprocess.run(
        ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=CACHE,
        check=True,
        capture_output=True,
        timeout=600,
    )


@cache
def _ready() -> str | None:
    """None when the pinned schemas are in place, else why they are not."""
    if _installed_versions() == _pinned_versions() and all(p.exists() for p in FILES.values()):
        return None
    if shutil.which("npm") is None:
        return "npm is not installed, so GitHub's schemas (@octokit/*) cannot be installed (.ci/run does)"
    try:
        _install()
    except (subprocess.SubprocessError, OSError) as exc:
        return f"installing GitHub's schemas with npm failed: {exc}"
    if _installed_versions() != _pinned_versions():
        return f"npm installed {_installed_versions()}, not the pinned {_pinned_versions()}"
    return None


def path(kind: str) -> Path:
    """The schema file of ``kind`` (openapi, graphql, webhooks); skips or fails when unavailable."""
    reason = _ready()
    if reason is not None:
        if required():
            pytest.fail(f"contract tests must run here: {reason}")
        pytest.skip(reason)
    return FILES[kind]


@cache
def load_json(kind: str) -> Any:
    return json.loads(path(kind).read_text())
