"""requirements.lock is what README's set-up line and .ci/run install: it pins, with hashes, every
dependency pyproject.toml declares (the service's and every extra's) within its bounds, and
pyproject.toml bounds each one from above. ``scripts/relock`` refreshes it."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
#: scripts/relock's gate points here at the lock it is about to write (the one on disk is the old)
LOCK = Path(os.environ.get("REQUIREMENTS_LOCK") or ROOT / "requirements.lock").read_text(encoding="utf-8")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", flags=re.M)


def declared() -> list[Requirement]:
    extras = PROJECT["optional-dependencies"].values()
    return [Requirement(r) for r in PROJECT["dependencies"] + [r for extra in extras for r in extra]]


def test_the_lock_pins_every_declared_dependency_within_its_bounds() -> None:
    locked = {canonicalize_name(name): Version(version) for name, version in PIN.findall(LOCK)}
    for requirement in declared():
        version = locked.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement} is not in requirements.lock: run scripts/relock"
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock has {requirement.name} {version}, outside {requirement}: run scripts/relock"
        )


def test_every_declared_dependency_has_an_upper_bound() -> None:
    for requirement in declared():
        assert any(s.operator in {"<", "<=", "==", "~="} for s in requirement.specifier), requirement


def test_every_pin_carries_its_hashes() -> None:
    entries = re.split(r"\n(?=[A-Za-z0-9])", LOCK.split("\n", 2)[2])  # after uv's two header lines
    assert len(entries) == len(PIN.findall(LOCK)) > 20
    assert all("--hash=sha256:" in entry for entry in entries)


def test_relock_compiles_every_extra_and_the_setup_line_and_ci_install_the_lock() -> None:
    relock = (ROOT / "scripts" / "relock").read_text(encoding="utf-8")
    assert set(re.findall(r"--extra (\w+)", relock)) == set(PROJECT["optional-dependencies"])
    assert " -m pytest " in relock  # the gate
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = re.findall(r"```sh\n(.*?)\n", readme)[0]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    for install in ("pip install -q -r requirements.lock", "pip install -q --no-deps -e ."):
        assert f".venv/bin/{install}" in setup
        assert f".venv/bin/{install}" in ci
