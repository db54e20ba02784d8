"""The rule index answers what asking ``Rule.matches_image`` of every rule answers — for literal
images in any spelling, globs, regexes and CI rules' images — in config order, and planning a
push and choosing what a poll plans find the same rules through it."""

from __future__ import annotations

import textwrap

import pytest

from bot.core.config import Config, load_config
from bot.core.events import ImagePushed
from bot.core.planning import needs_tag_list, plan, poll_tags
from bot.core.rule_index import RuleIndex, push_rules_for, rule_index, rules_for

TARGET = "targets: [{forge: disk, repo: deploy, environment: dev, files: [%s.yaml]}]"


def config(rules: str) -> Config:
    head = "forges: [{name: disk, kind: local, path: /srv/git}]\nrules:\n"
    return load_config(head + textwrap.indent(textwrap.dedent(rules), "  "), "bot.yaml")


RULES = config(
    f"""\
    - name: exact
      image: nginx
      {TARGET % "exact"}
    - name: glob
      image_glob: "ghcr.io/acme/*"
      {TARGET % "glob"}
    - name: literal-glob
      image_glob: "ghcr.io/acme/api"
      {TARGET % "literal-glob"}
    - name: regex
      image_regex: 'quay\\.io/(team-a|team-b)/.+'
      {TARGET % "regex"}
    - name: api
      image: ghcr.io/acme/api
      poll: 5m
      {TARGET % "api"}
    - name: ci-built
      ci: {{repo: acme/web, image: ghcr.io/acme/web, tag: "{{short_sha}}"}}
      {TARGET % "ci-built"}
    - name: ci-templated
      ci:
        repo: acme/mono
        workflows: ["build-*"]
        image: "quay.io/team-c/{{workflow}}"
        tag: "{{short_sha}}"
      {TARGET % "ci-templated"}
    - name: nginx-again
      image: docker.io/library/nginx
      {TARGET % "nginx-again"}
    """
)

IMAGES = [
    "nginx",
    "docker.io/library/nginx",
    "index.docker.io/library/nginx",
    "ghcr.io/acme/api",
    "ghcr.io/acme/web",
    "ghcr.io/acme/other",
    "GHCR.io/acme/api",
    "quay.io/team-a/x",
    "quay.io/team-c/api",
    "quay.io/team-d/x",
    "registry.example.com/nothing",
]


def brute_force(config: Config, image: str) -> list[str]:
    return [r.name for r in config.rules if r.matches_image(image)]


@pytest.mark.parametrize("image", IMAGES)
def test_the_index_answers_what_every_rule_would(image: str) -> None:
    assert [r.name for r in rules_for(RULES, image)] == brute_force(RULES, image)
    push = [r.name for r in RULES.rules if r.ci is None and r.matches_image(image)]
    assert [r.name for r in push_rules_for(RULES, image)] == push


def test_literal_rules_are_found_by_name_and_only_pattern_rules_are_asked() -> None:
    index = RuleIndex(RULES)
    assert index.pattern_rules == 3  # the glob, the regex, the templated CI image
    assert [r.name for r in index.matching("nginx").rules] == ["exact", "nginx-again"]
    assert [r.name for r in index.matching("ghcr.io/acme/api").push] == ["glob", "literal-glob", "api"]
    assert [r.name for r in index.matching("ghcr.io/acme/web").rules] == ["glob", "ci-built"]
    assert [r.name for r in index.matching("ghcr.io/acme/web").push] == ["glob"]


def test_the_index_is_built_once_per_config_object() -> None:
    assert rule_index(RULES) is rule_index(RULES)
    same_text = config("- {name: a, image: nginx, " + TARGET % "a" + "}")
    twin = config("- {name: a, image: nginx, " + TARGET % "a" + "}")
    assert rule_index(same_text) is not rule_index(twin)
    assert rule_index(same_text).config is same_text


def test_many_literal_rules_each_find_their_own() -> None:
    many = config(
        "".join(f"- {{name: r{n}, image: ghcr.io/acme/app{n}, {TARGET % n}}}\n" for n in range(500))
    )
    for n in (0, 250, 499):
        assert [r.name for r in rules_for(many, f"ghcr.io/acme/app{n}")] == [f"r{n}"]
    assert rules_for(many, "ghcr.io/acme/app500") == ()


def test_planning_a_push_and_choosing_a_poll_find_the_same_rules() -> None:
    image = "ghcr.io/acme/api"
    pushed = plan(ImagePushed(image=image, tag="1.2.0", digest=None, source="poll"), RULES)
    files = sorted(f for i in pushed.intents for f in i.files)
    assert files == sorted(f"{r.name}.yaml" for r in push_rules_for(RULES, image))
    assert poll_tags(RULES, image, ["1.2.0", "1.1.0"]) == ("1.2.0",)
    assert needs_tag_list(RULES, image)
    assert poll_tags(RULES, "registry.example.com/nothing", ["1.0.0"]) == ()
