"""The discovery scenario of issue #15, as a new user meets it: a dev target with ``files: []`` and
no ``discover.include`` in a repository that also holds a production file another target lists, a
Kustomize component with a placeholder tag and one with no tag at all. Planned by the real planner,
applied by the real lifecycle service to a real git repository: only dev's file changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.config import load_config
from bot.core.events import ImagePushed
from bot.core.marker import parse_marker
from bot.core.planning import plan
from bot.forges.local.adapter import LocalGitForge
from bot.services.lifecycle import sync_group
from tests.forges.local_fixture import seed_repo

REPO = "acme/deploy"
IMAGE = "ghcr.io/acme/shop"
DEPLOY = f"spec:\n  containers:\n    - name: shop\n      image: {IMAGE}:1.0.0\n"
FILES = {
    "apps/dev/shop.yaml": DEPLOY,
    "release/prod.yaml": DEPLOY,
    "components/tagged/kustomization.yaml": f"images:\n  - name: {IMAGE}\n    newTag: CONTAINER_IMAGES_TAG\n",
    "components/untagged/kustomization.yaml": f"images:\n  - name: {IMAGE}\n    newName: {IMAGE}\n",
}
CONFIG = f"""\
forges:
  - {{name: local, kind: local, path: /unused}}
rules:
  - name: shop
    image: {IMAGE}
    targets:
      - {{forge: local, repo: {REPO}, environment: dev, files: []}}
      - {{forge: local, repo: {REPO}, environment: prod, files: [release/prod.yaml]}}
"""


def test_dev_discovery_edits_only_dev_files(tmp_path: Path) -> None:
    seed_repo(tmp_path, REPO, FILES)
    forge = LocalGitForge(tmp_path)
    result = plan(ImagePushed(IMAGE, "1.1.0", None, "ghcr"), load_config(CONFIG, "bot.yaml"))
    (dev,) = [i for i in result.intents if i.environment == "dev"]
    synced = sync_group(forge, [dev])
    marker = parse_marker(synced.pr.body if synced.pr else "")
    assert marker is not None and marker.files == ("apps/dev/shop.yaml",)
    head = synced.commit or ""
    assert f"{IMAGE}:1.1.0" in forge.read_file(REPO, "apps/dev/shop.yaml", head).decode()
    for path in ("release/prod.yaml", *(p for p in FILES if p.startswith("components/"))):
        assert forge.read_file(REPO, path, head).decode() == FILES[path], path


PROMOTED = (
    'image:\n  repository: staging.example.com/acme/shop # {"$imagepolicy": "flux-system:shop:name"}\n'
    '  tag: 1.0.0 # {"$imagepolicy": "flux-system:shop:tag"}\n'
)


@pytest.mark.parametrize("rename", [True, False])
def test_the_rule_rename_option_rewrites_a_marked_name_or_leaves_it(tmp_path: Path, rename: bool) -> None:
    seed_repo(tmp_path, REPO, {"prod/values.yaml": PROMOTED})
    forge = LocalGitForge(tmp_path)
    config = f"""\
forges:
  - {{name: local, kind: local, path: /unused}}
rules:
  - name: shop
    image: {IMAGE}
    rename: {str(rename).lower()}
    targets:
      - {{forge: local, repo: {REPO}, environment: prod, marker: "flux-system:shop",
         files: [prod/values.yaml]}}
"""
    (intent,) = plan(ImagePushed(IMAGE, "1.1.0", None, "ghcr"), load_config(config, "bot.yaml")).intents
    synced = sync_group(forge, [intent])
    if rename:
        text = forge.read_file(REPO, "prod/values.yaml", synced.commit or "").decode()
        assert text == PROMOTED.replace("staging.example.com/acme/shop", IMAGE).replace("1.0.0", "1.1.0")
    else:  # the marked value names another image: left alone, nothing to publish
        assert (synced.action, synced.unmatched) == ("noop", (IMAGE,))
