"""A manifest repo on disk, a local forge over it, and intents for the lifecycle tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.core.intents import Origin, UpdateIntent
from bot.core.pr_options import PrOptions
from bot.forges.local.adapter import LocalGitForge
from bot.services.lifecycle import PrConfig
from tests.forges.local_fixture import seed_repo

REPO = "acme/deploy"

API = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: api
          image: ghcr.io/acme/api:1.0.0
          ports:
            - containerPort: 8080
"""

WEB = """\
# web chart values
image:
  repository: ghcr.io/acme/web
  tag: "2.0.0"
resources: {}
"""

FILES = {"envs/dev/api.yaml": API, "envs/dev/web-values.yaml": WEB, "README.md": "manifests\n"}


def make_forge(tmp_path: Path) -> LocalGitForge:
    seed_repo(tmp_path, REPO, FILES)
    return LocalGitForge(tmp_path)


def options(**settings: Any) -> PrConfig:
    """The group's PR options, as the routing config would give them at any base commit."""
    chosen = PrOptions(**settings)
    return lambda _base_sha: chosen


def intent(image: str = "ghcr.io/acme/api", tag: str = "1.1.0", **over: Any) -> UpdateIntent:
    values: dict[str, Any] = {
        "forge": "local",
        "repo": REPO,
        "base_branch": "main",
        "group": "apps",
        "environment": "dev",
        "files": ("envs/dev/*.yaml",),
        "image": image,
        "tag": tag,
        "digest": None,
        "ordering_scheme": "semver",
        "ordering_key": tuple(int(p) for p in tag.split(".")) if tag[0].isdigit() else (0,),
        "origin": Origin(link="https://ci.example/runs/7", commit="a" * 40, app_repo="acme/api"),
    }
    values.update(over)
    return UpdateIntent(**values)
