"""The rendered-output oracle for images set by Kustomize patches: every image `kubectl kustomize`
renders is found by `manifest-bot scan` and, bumped with `manifest-bot bump --write` in the files
scan names, is what the render runs afterwards, with every other image unchanged.

The fixtures (tests/fixtures/kustomize/) are shaped like a local-dev overlay that replaces images
with JSON 6902 patches (`patches[].patch: |-`) and a platform overlay that sets them with
`patchesStrategicMerge` (a file and an inline string, CRLF line endings) and a `patchesJson6902`
file, over a base with an `images:` transformer.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import main
from bot.core.images import parse_image

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kustomize"
OVERLAYS = [("tilt", "dev-tilt"), ("pipelines", "env/platform")]


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


def render(directory: Path) -> list[str]:
    """Every container image `kubectl kustomize` renders, in order."""
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with kustomize v5) is needed for the rendered-output oracle (.ci/run checks)"
    out = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=True)
    return [
        line.split("image:", 1)[1].strip()
        for line in out.stdout.splitlines()
        if line.lstrip(" -").startswith("image:")
    ]


def scan(tree: Path) -> list[dict]:
    files = sorted(str(p) for p in tree.rglob("*.yaml"))
    result = run("scan", "--json", *files)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def tree(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    shutil.copytree(FIXTURES / request.param, tmp_path / request.param)
    return tmp_path / request.param


@pytest.mark.parametrize(("tree", "overlay"), OVERLAYS, indirect=["tree"], ids=[t for t, _ in OVERLAYS])
def test_every_rendered_image_is_bumped_where_the_render_reads_it(tree: Path, overlay: str) -> None:
    before = render(tree / overlay)
    names = sorted({parse_image(image).canonical_name for image in before})
    assert len(names) >= 2
    refs = scan(tree)
    for n, name in enumerate(names):
        files = sorted({r["file"] for r in refs if parse_image(r["image"]).canonical_name == name})
        assert files, f"scan found no reference to {name}, which the render runs"
        tag = f"9.{n}.0"
        result = run("bump", *files, "--image", name, "--tag", tag, "--write")
        assert result.exit_code == 0, result.output
        after = render(tree / overlay)
        for old, new in zip(before, after, strict=True):
            ref = parse_image(old)
            if ref.canonical_name == name:
                assert (parse_image(new).canonical_name, parse_image(new).tag) == (name, tag), new
                assert parse_image(new).digest is None  # a digest pinned to the old tag is dropped
            else:
                assert new == old
        before = after


def test_a_patch_that_overrides_the_file_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    """Bumping only a resource whose image a patch of its own kustomization sets would change
    nothing the render runs: refused, naming the patch; with the kustomization too, both change."""
    (tmp_path / "kustomization.yaml").write_text(
        "resources:\n- web.yaml\npatches:\n- target: {kind: Deployment, name: web}\n  patch: |-\n"
        "    - op: replace\n      path: /spec/template/spec/containers/0/image\n      value: nginx:1.27.0\n"
    )
    web = tmp_path / "web.yaml"
    web.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n"
        "      containers:\n      - name: web\n        image: nginx:1.25.3\n"
    )
    original = web.read_bytes()
    refused = run("bump", str(web), "--image", "nginx", "--tag", "1.28.0", "--write")
    assert refused.exit_code == 2
    assert "kustomization.yaml:8 patches[0].patch|[0].value" in refused.stderr
    assert "nginx is set to 1.27.0" in refused.stderr
    assert web.read_bytes() == original
    assert render(tmp_path) == ["nginx:1.27.0"]
    both = (str(web), str(tmp_path / "kustomization.yaml"))
    done = run("bump", *both, "--image", "nginx", "--tag", "1.28.0", "--write")
    assert done.exit_code == 0, done.output
    assert render(tmp_path) == ["nginx:1.28.0"]
