"""`check-config` and `explain --repo-dir` name both rules when two rules' targets reach one image
reference (issue 21, item 1): the bot writes the highest version there, which a narrower rule's
author should know."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from bot.cli import main

API = "registry.example.com/shop/api"
CONFIG = f"""\
forges:
  - {{name: local, kind: local, path: /nowhere}}
environments: {{dev: {{}}}}
rules:
  - name: shop-images
    image_glob: "registry.example.com/shop/*"
    targets: [{{forge: local, repo: acme/deploy, environment: dev, discover: {{include: ["envs/dev/**"]}}}}]
  - name: api-ci
    ci: {{repo: acme/api, image: {API}, tag: "{{short_sha}}"}}
    targets: [{{forge: local, repo: acme/deploy, environment: dev, files: [envs/dev/api.yaml]}}]
"""
WARNING = (
    "warning: rules 'shop-images' and 'api-ci' both set registry.example.com/shop/api in "
    "local:acme/deploy@main envs/dev/api.yaml, environment dev: the highest version their policies "
    "allow is written there"
)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def write(tmp_path: Path, config: str = CONFIG) -> tuple[Path, Path]:
    path = tmp_path / "routing.yaml"
    path.write_text(config)
    checkout = tmp_path / "checkout"
    (checkout / "envs/dev").mkdir(parents=True)
    (checkout / "envs/dev/api.yaml").write_text(f"image: {API}:1.0.0\n")
    (checkout / "envs/dev/web.yaml").write_text("image: registry.example.com/shop/web:1.0.0\n")
    return path, checkout


def test_check_config_names_both_rules_of_an_overlap(tmp_path: Path) -> None:
    config, _ = write(tmp_path)
    result = run("check-config", str(config))
    assert result.exit_code == 0
    assert WARNING in result.output
    assert result.output.count("both set") == 1


GLOBS = CONFIG.replace(
    f'    ci: {{repo: acme/api, image: {API}, tag: "{{short_sha}}"}}',
    '    image_glob: "registry.example.com/*/api"',
)


def test_check_config_with_a_checkout_finds_overlaps_the_config_alone_cannot(tmp_path: Path) -> None:
    config, checkout = write(tmp_path, GLOBS)  # two glob rules: only the checkout names their images
    assert "both set" not in run("check-config", str(config)).output
    found = run("check-config", str(config), "--repo-dir", str(checkout)).output
    assert found.count("both set") == 1 and "envs/dev/api.yaml" in found and "web.yaml" not in found


def test_no_warning_when_the_rules_do_not_meet(tmp_path: Path) -> None:
    config, checkout = write(
        tmp_path,
        CONFIG.replace('include: ["envs/dev/**"]', 'include: ["envs/dev/**"], exclude: [envs/dev/api.yaml]'),
    )
    assert "both set" not in run("check-config", str(config), "--repo-dir", str(checkout)).output


def test_explain_with_a_checkout_names_both_rules(tmp_path: Path) -> None:
    config, checkout = write(tmp_path)
    result = run(
        "explain", "--config", str(config), "--image", API, "--tag", "1.1.0", "--repo-dir", str(checkout)
    )
    assert result.exit_code == 0
    assert WARNING in result.output
