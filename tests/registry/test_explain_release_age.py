"""``manifest-bot explain --registry --at`` answers for ``policy.min_release_age`` as the worker
would at that moment (issue 25 items 2 and 8), against a real Distribution registry: a tag built
too recently is not written and explain says from when it is; later it is written."""

from __future__ import annotations

from pathlib import Path

import requests
from click.testing import CliRunner

from bot.cli import main
from tests.registry.support import LocalRegistry

BUILT = "2026-12-07T10:00:00+00:00"


def explain(tmp_path: Path, image: str, *more: str) -> str:
    config = tmp_path / "routing.yaml"
    config.write_text(
        "forges: [{name: local, kind: local, path: /nowhere}]\n"
        "rules:\n"
        f"  - name: api\n    image: {image}\n    policy: {{min_release_age: 1d12h}}\n"
        "    targets: [{forge: local, repo: deploy, environment: dev, files: [api.yaml]}]\n"
    )
    checkout = tmp_path / "checkout"
    checkout.mkdir(exist_ok=True)
    (checkout / "api.yaml").write_text(f"image: {image}:1.0.0\n")
    args = [
        "explain",
        "--config",
        str(config),
        "--image",
        image,
        "--tag",
        "1.1.0",
        "--repo-dir",
        str(checkout),
    ]
    result = CliRunner().invoke(main, [*args, *more], env={}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_explain_at_a_moment_says_whether_the_tag_is_old_enough(
    tmp_path: Path, local_registry: LocalRegistry
) -> None:
    image = local_registry.image("acme/api")
    with requests.Session() as session:
        local_registry.put("acme/api", ["1.1.0"], session=session, created=BUILT)

    quiet = explain(tmp_path, image)
    assert f"note: asked no registry: {image}:1.1.0 is written only once it is 1d12h old" in quiet

    early = explain(tmp_path, image, "--registry", "--at", "2026-12-08T10:00:00Z")
    assert (
        f"skip: [local:deploy:main:dev] {image}:1.1.0 was built 2026-12-07T10:00:00Z: at "
        "2026-12-08T10:00:00Z it is younger than policy.min_release_age 1d12h; the worker waits and "
        "writes it from 2026-12-08T22:00:00Z"
    ) in early
    assert "+image:" not in early

    later = explain(tmp_path, image, "--registry", "--at", "2026-12-08T22:00:00Z")
    assert "old enough (policy.min_release_age 1d12h)" in later
    assert f"+image: {image}:1.1.0" in later


def test_explain_says_when_the_registry_gives_no_build_time(
    tmp_path: Path, local_registry: LocalRegistry
) -> None:
    image = local_registry.image("acme/api")
    local_registry.push("acme/api", "1.1.0")  # skopeo's image: its config has no created

    out = explain(tmp_path, image, "--registry")

    assert "counts policy.min_release_age 1d12h from when it first sees it" in out


def test_explain_says_whether_the_image_is_built_for_every_platform(
    tmp_path: Path, local_registry: LocalRegistry
) -> None:
    image = local_registry.image("acme/api")
    with requests.Session() as session:
        amd = local_registry.put("acme/api", [], session=session)
        local_registry.put_index("acme/api", "1.1.0", {"linux/amd64": amd}, session=session)
    config = tmp_path / "routing.yaml"
    config.write_text(
        "forges: [{name: local, kind: local, path: /nowhere}]\n"
        f"rules:\n  - name: api\n    image: {image}\n    policy: {{platforms: [linux/amd64, linux/arm64]}}\n"
        "    targets: [{forge: local, repo: deploy, environment: dev, files: [api.yaml]}]\n"
    )
    args = ["explain", "--config", str(config), "--image", image, "--tag", "1.1.0"]

    quiet = CliRunner().invoke(main, args, env={}, catch_exceptions=False).output
    asked = CliRunner().invoke(main, [*args, "--registry"], env={}, catch_exceptions=False).output

    assert "is written only when its image is built for linux/amd64, linux/arm64" in quiet
    assert (
        f"skip: [local:deploy:main:dev] {image}:1.1.0 is built for linux/amd64: policy.platforms also "
        "needs linux/arm64; the worker does not write it"
    ) in asked
