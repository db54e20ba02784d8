"""``manifest-bot explain`` says when it asked no registry, and with ``--registry`` asks a real
one as the worker would (issue 21, item 6): the digest a ``tag+digest`` pin writes, and a tag the
registry lacks skipped with the reason."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bot.cli import main
from tests.registry.support import LocalRegistry


def explain(tmp_path: Path, image: str, tag: str, *more: str) -> str:
    config = tmp_path / "routing.yaml"
    config.write_text(
        "forges: [{name: local, kind: local, path: /nowhere}]\n"
        "rules:\n"
        f"  - name: api\n    image: {image}\n    policy: {{pin: tag+digest}}\n"
        "    targets: [{forge: local, repo: deploy, environment: dev, files: [api.yaml]}]\n"
    )
    checkout = tmp_path / "checkout"
    checkout.mkdir(exist_ok=True)
    (checkout / "api.yaml").write_text(f"image: {image}:1.0.0\n")
    args = ["explain", "--config", str(config), "--image", image, "--tag", tag, "--repo-dir", str(checkout)]
    result = CliRunner().invoke(main, [*args, *more], env={}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_explain_says_it_asked_no_registry_and_asks_with_registry(
    tmp_path: Path, local_registry: LocalRegistry
) -> None:
    image = local_registry.image("acme/api")
    digest = local_registry.push("acme/api", "1.1.0")
    quiet = explain(tmp_path, image, "1.1.0")
    assert f"note: asked no registry: the worker first checks that {image}:1.1.0 exists" in quiet
    assert "pass --registry to ask it now" in quiet

    asked = explain(tmp_path, image, "1.1.0", "--registry")
    assert f"registry: {image}:1.1.0 is {digest}" in asked
    assert f"+image: {image}:1.1.0@{digest}" in asked  # the diff the worker would make

    missing = explain(tmp_path, image, "9.9.9", "--registry")
    assert f"skip: [local:deploy:main:dev] {image}:9.9.9 is not in its registry" in missing
    assert "+image:" not in missing
