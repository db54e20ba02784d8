from __future__ import annotations

import textwrap
from typing import Any

import pytest

from bot.core.config import Config, load_config
from bot.core.events import CiFinished, ImagePushed, PrComment
from bot.core.images import canonical_name
from bot.core.intents import Origin, Skip, UpdateIntent
from bot.core.keys import GroupKey
from bot.core.planning import plan, plan_for_environment, render_tag

SHA = "0123456789abcdef0123456789abcdef01234567"


def config(rules: str, extra: str = "") -> Config:
    head = "forges:\n  - {name: github, kind: github}\n  - {name: disk, kind: local, path: /srv/git}\n"
    return load_config(head + extra + "rules:\n" + textwrap.indent(textwrap.dedent(rules), "  "), "bot.yaml")


def push(image: str = "ghcr.io/acme/api", tag: str | None = "1.2.3", **kw: Any) -> ImagePushed:
    return ImagePushed(image=image, tag=tag, digest=kw.pop("digest", None), source="ghcr", **kw)


def ci(**kw: Any) -> CiFinished:
    base: dict[str, Any] = {
        "forge": "github",
        "repo": "acme/web",
        "sha": SHA,
        "branch": "main",
        "status": "success",
        "run_id": 900001,
        "run_number": 42,
        "workflow": "build",
        "link": "https://github.com/acme/web/actions/runs/900001",
    }
    base.update(kw)
    return CiFinished(**base)


TARGET = "targets: [{forge: github, repo: acme/deploy, environment: dev}]"
IMAGE_RULES = f"""\
- name: exact
  image: nginx
  {TARGET}
- name: glob
  image_glob: "ghcr.io/acme/*"
  {TARGET}
- name: regex
  image_regex: 'quay\\.io/(team-a|team-b)/.+'
  {TARGET}
"""


@pytest.mark.parametrize(
    ("image", "rule"),
    [
        ("docker.io/library/nginx", "exact"),
        ("nginx", "exact"),
        ("index.docker.io/library/nginx", "exact"),
        ("ghcr.io/acme/api", "glob"),
        ("quay.io/team-b/svc", "regex"),
        ("quay.io/team-c/svc", None),
        ("docker.io/library/nginx-exporter", None),  # never a prefix match
        ("ghcr.io/other/api", None),
    ],
)
def test_image_rule_matching(image: str, rule: str | None) -> None:
    result = plan(push(image), config(IMAGE_RULES), delivery_id="d-1")
    if rule is None:
        assert result.intents == ()
        assert result.skips[0].reason == f"no rule routes {canonical_name(image)}"
        assert (result.skips[0].image, result.skips[0].tag) == (canonical_name(image), "1.2.3")
    else:
        assert [i.origin.delivery_id for i in result.intents] == ["d-1"]
        assert result.skips == ()


CI_RULE = """\
- name: web
  ci:
    repo: acme/web
    forge: github
    branches: [main, "release/*"]
    tags: ["v*"]
    workflows: [build]
    image: ghcr.io/acme/web
    tag: "{ref_name}_{short_sha}"
  targets: [{forge: disk, repo: deploy, environment: dev}]
"""


@pytest.mark.parametrize(
    ("event", "outcome"),
    [
        (ci(), "tag main_0123456"),
        (ci(branch="release/1.4"), "tag release-1.4_0123456"),
        (ci(branch=None, tag="v1.4.0"), "tag v1.4.0_0123456"),
        (ci(branch="feature/x"), "skip no rule matches CI run for acme/web@0123456 (branch 'feature/x'"),
        (ci(workflow="lint"), "skip no rule matches"),
        (ci(forge="gitlab"), "skip no rule matches"),
        (ci(repo="acme/api"), "skip no rule matches"),
        (ci(repo="ACME/Web"), "tag main_0123456"),
        (
            ci(status="failure"),
            "skip CI run for acme/web@0123456 failed (status 'failure'); nothing to update",
        ),
        (ci(status="cancelled"), "skip CI run for acme/web@0123456 did not succeed (status 'cancelled')"),
    ],
)
def test_ci_rule_matching(event: CiFinished, outcome: str) -> None:
    result = plan(event, config(CI_RULE))
    if outcome.startswith("tag "):
        (intent,) = result.intents
        assert intent.tag == outcome[4:]
        assert intent.image == "ghcr.io/acme/web"
        assert intent.origin == Origin(
            source="github",
            link="https://github.com/acme/web/actions/runs/900001",
            commit=SHA,
            app_repo=event.repo,
        )
    else:
        assert result.intents == ()
        assert result.skips[0].reason.startswith(outcome[5:])


@pytest.mark.parametrize(
    ("template", "event", "expected"),
    [
        ("{sha}", ci(), SHA),
        ("{short_sha}", ci(), "0123456"),
        ("{branch}-{run_number}", ci(branch="feat/Login"), "feat-Login-42"),
        ("build-{run_id}", ci(), "build-900001"),
        ("{ref_name}", ci(branch=None, tag="v2.0.0"), "v2.0.0"),
        ("{ref_name}", ci(), "main"),
        ("{run_number}", ci(run_number=None), ValueError("tag template '{run_number}' needs {run_number}")),
        ("{branch}", ci(branch=None, tag="v1"), ValueError("tag template '{branch}' needs {branch}")),
        ("-{short_sha}", ci(), ValueError("tag template '-{short_sha}' gave an invalid tag: invalid tag")),
    ],
)
def test_tag_templates(template: str, event: CiFinished, expected: str | ValueError) -> None:
    if isinstance(expected, ValueError):
        with pytest.raises(ValueError, match="^" + str(expected).replace("{", r"\{").replace("}", r"\}")):
            render_tag(template, event)
    else:
        assert render_tag(template, event) == expected


def test_a_template_the_event_cannot_fill_is_a_skip_naming_the_rule() -> None:
    result = plan(ci(run_number=None), config(CI_RULE.replace("{ref_name}_{short_sha}", "b{run_number}")))
    assert result.skips == (
        Skip("tag template 'b{run_number}' needs {run_number}, which this CI event lacks", rule="web"),
    )


def test_out_of_order_ci_runs_compare_by_run_number() -> None:
    cfg = config(CI_RULE)
    newer = plan(ci(sha="f" * 40, run_number=43), cfg).intents[0]
    older = plan(ci(sha="a" * 40, run_number=42), cfg).intents[0]
    assert (older.ordering_scheme, newer.ordering_scheme) == ("run-number", "run-number")
    assert older.ordering_key < newer.ordering_key
    assert older.target_key == newer.target_key and older.group_key == newer.group_key


def test_semver_tags_order_by_semver_not_by_arrival() -> None:
    cfg = config(f"- name: api\n  image: ghcr.io/acme/api\n  {TARGET}\n")
    keys = {t: plan(push(tag=t), cfg).intents[0].ordering_key for t in ("1.10.0", "1.9.0", "v1.10.1")}
    assert keys["1.9.0"] < keys["1.10.0"] < keys["v1.10.1"]
    assert plan(push(tag="1.9.0"), cfg).intents[0].ordering_scheme == "semver"


def test_non_version_tags_from_a_registry_order_by_push_time() -> None:
    cfg = config(f"- name: api\n  image: ghcr.io/acme/api\n  {TARGET}\n")
    early = plan(push(tag="main-abc", pushed_at="2024-05-01T10:00:00Z"), cfg).intents[0]
    late = plan(push(tag="main-def", pushed_at="2024-05-01T10:00:01Z"), cfg).intents[0]
    assert early.ordering_scheme == "push-time" and early.ordering_key < late.ordering_key
    unknown = plan(push(tag="main-abc"), cfg)
    assert unknown.skips[0].reason == "ordering push-time needs a push or finish time; this event has none"
    assert plan(push(tag="main-abc"), cfg, received_at="2024-05-01T10:00:00Z").intents


@pytest.mark.parametrize(
    ("policy", "tag", "reason"),
    [
        ("{semver: '^1.2'}", "1.4.0", None),
        ("{semver: '^1.2'}", "2.0.0", "tag '2.0.0' is outside the semver range '^1.2'"),
        ("{}", "1.4.0-rc.1", "tag '1.4.0-rc.1' is a prerelease and prereleases are off"),
        ("{deny: '^dev-'}", "dev-1", "tag 'dev-1' matches the deny pattern '^dev-'"),
        ("{ignore: ['1.4.*']}", "1.4.2", "tag '1.4.2' is in the ignore list ('1.4.*')"),
        ("{ordering: numeric}", "latest", "tag 'latest' has no number to order by (ordering: numeric)"),
    ],
)
def test_policy_rejections_become_skips_with_rule_and_target(
    policy: str, tag: str, reason: str | None
) -> None:
    cfg = config(f"- name: api\n  image: ghcr.io/acme/api\n  policy: {policy}\n  {TARGET}\n")
    result = plan(push(tag=tag), cfg)
    if reason is None:
        assert len(result.intents) == 1
    else:
        where = {
            "rule": "api",
            "target": "github:acme/deploy@main/dev",
            "image": "ghcr.io/acme/api",
            "tag": tag,
        }
        assert result.skips == (Skip(reason, **where),)


DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("pin", "event", "tag", "digest"),
    [
        ("tag", push(digest=DIGEST), "1.2.3", DIGEST),  # known (shown in the PR), not written
        ("digest", push(digest=DIGEST), "1.2.3", DIGEST),  # the tag is shown, the digest written
        ("tag+digest", push(digest=DIGEST), "1.2.3", DIGEST),
        ("digest", push(), "1.2.3", None),  # the registry gate fills the digest before merging
        (
            "tag",
            push(tag=None, digest=DIGEST),
            "skip",
            "pin 'tag' needs a tag; this event carries only a digest",
        ),
    ],
)
def test_pin_modes(pin: str, event: ImagePushed, tag: str | None, digest: str | None) -> None:
    cfg = config(
        f"- name: api\n  image: ghcr.io/acme/api\n  policy: {{pin: '{pin}'}}\n  {TARGET}\n",
    )
    result = plan(event, cfg, received_at="2024-05-01T10:00:00Z")
    if tag == "skip":
        assert result.skips[0].reason == digest
    else:
        (intent,) = result.intents
        assert (intent.pin, intent.tag, intent.digest) == (pin, tag, digest)


def test_targets_carry_repo_group_files_and_selectors_and_the_config_gives_pr_options() -> None:
    cfg = config(
        """\
        - name: api
          image: ghcr.io/acme/api
          targets:
            - {forge: github, repo: acme/deploy, branch: live, environment: prod, files: ["prod/*.yaml"]}
            - {forge: github, repo: acme/deploy, group: batch, marker: "acme:api"}
            - {forge: disk, repo: deploy, path: "spec.image", doc: 1}
        """,
        extra="environments:\n  prod: {pr: {reviewers: [sre]}}\n",
    )
    a, b, c = plan(push(), cfg).intents
    assert (a.repo, a.base_branch, a.group, a.environment, a.files) == (
        "acme/deploy",
        "live",
        "prod",
        "prod",
        ("prod/*.yaml",),
    )
    assert cfg.pr_for_group(GroupKey.parse(a.group_key), [a.image]).reviewers == ("sre",)
    assert not hasattr(a, "pr")  # stored intents carry what was decided, never PR settings
    assert (b.group, b.marker, b.files) == ("batch", "acme:api", ())
    assert (c.forge, c.group, c.path, c.doc) == ("disk", "default", "spec.image", 1)
    assert UpdateIntent.from_dict(a.to_dict()) == a


def test_the_first_rule_reaching_a_target_wins_it() -> None:
    cfg = config(
        f"- name: first\n  image: ghcr.io/acme/api\n  {TARGET}\n"
        f"- name: second\n  image_glob: '*'\n  {TARGET}\n"
    )
    result = plan(push(), cfg)
    assert len(result.intents) == 1
    assert result.skips == (
        Skip("target already planned by rule 'first'", rule="second", target="github:acme/deploy@main/dev"),
    )


def test_events_that_are_not_builds_plan_nothing() -> None:
    comment = PrComment(forge="github", repo="a/b", pr_number=1, author="x", body="hi", comment_id=1)
    assert plan(comment, config(CI_RULE)).skips == (Skip("pr-comment events do not update images"),)


PROMO = """\
- name: web
  ci: {repo: acme/web, image: ghcr.io/acme/web, tag: "{short_sha}"}
  policy: {deny: "-bad$"}
  targets:
    - {forge: disk, repo: deploy, environment: dev, discover: {include: ["dev/**"]}}
    - {forge: disk, repo: deploy, environment: prod, discover: {include: ["prod/**"]}}
"""


def test_promote_plans_the_environment_with_its_policy() -> None:
    origin = Origin(delivery_id="c-1", received_at="2024-05-01T10:00:00Z")
    result = plan_for_environment(config(PROMO), "ghcr.io/acme/web", "0123456", None, "prod", origin=origin)
    (intent,) = result.intents
    assert (intent.environment, intent.tag, intent.rollback, intent.origin) == (
        "prod",
        "0123456",
        False,
        origin,
    )
    # no CI run at hand: a sha tag is ordered by the request time
    assert intent.ordering_scheme == "push-time"
    given = plan_for_environment(
        config(PROMO),
        "ghcr.io/acme/web",
        "0123456",
        None,
        "prod",
        origin=origin,
        ordering=("run-number", (42,)),
    )
    assert given.intents[0].ordering_key == (42,)
    denied = plan_for_environment(config(PROMO), "ghcr.io/acme/web", "x-bad", None, "prod", origin=origin)
    assert denied.skips[0].reason == "tag 'x-bad' matches the deny pattern '-bad$'"


def test_rollback_bypasses_tag_filters_and_is_marked() -> None:
    result = plan_for_environment(
        config(PROMO), "ghcr.io/acme/web", "x-bad", None, "prod", origin=Origin(), rollback=True
    )
    (intent,) = result.intents
    assert intent.rollback is True and intent.tag == "x-bad"


def test_promote_to_an_environment_without_targets_is_a_skip() -> None:
    result = plan_for_environment(config(PROMO), "ghcr.io/acme/web", "1", None, "qa", origin=Origin())
    assert result.skips == (Skip("no target for ghcr.io/acme/web in environment 'qa'"),)


def test_discovery_globs_travel_with_the_intent() -> None:
    rules = """\
    - name: api
      image: ghcr.io/acme/api
      targets:
        - forge: github
          repo: acme/deploy
          environment: dev
          discover: {include: ["envs/dev/**/*.yaml"], exclude: ["**/secrets/*"]}
        - forge: github
          repo: acme/deploy
          environment: prod
          files: ["envs/prod/*.yaml"]
          discover: {exclude: ["envs/prod/legacy.yaml"]}
    """
    dev, prod = sorted(plan(push(), config(rules)).intents, key=lambda i: i.environment or "")
    # prod's listed files are prod's: dev's discovery leaves them alone (tests/core/test_discovery_lanes.py)
    assert (dev.files, dev.discover_include, dev.exclude) == (
        (),
        ("envs/dev/**/*.yaml",),
        ("**/secrets/*", "envs/prod/*.yaml"),
    )
    # with explicit files there is nothing to discover, but the exclude still applies
    assert (prod.files, prod.discover_include, prod.exclude) == (
        ("envs/prod/*.yaml",),
        (),
        ("envs/prod/legacy.yaml",),
    )
    assert UpdateIntent.from_dict(dev.to_dict()) == dev


# --- CDEvents pipelinerun.finished without customData: no commit, no ref -------------------------
CDEVENTS_RULES = """\
- name: tekton-latest
  ci: {forge: cdevents, repo: /tekton/pipelines, workflows: [build-*], image: ghcr.io/acme/web,
       tag: "run-{run_id}"}
  targets: [{forge: github, repo: acme/deploy, environment: dev}]
- name: tekton-main-only
  ci: {forge: cdevents, repo: /tekton/pipelines, branches: [main], image: ghcr.io/acme/other, tag: "{run_id}"}
  targets: [{forge: github, repo: acme/deploy, environment: dev}]
- name: tekton-sha
  ci: {forge: cdevents, repo: /tekton/pipelines, workflows: [sha-*], image: ghcr.io/acme/sha,
       tag: "{short_sha}"}
  targets: [{forge: github, repo: acme/deploy, environment: dev}]
"""


def refless(workflow: str) -> CiFinished:
    return ci(
        forge="cdevents",
        repo="/tekton/pipelines",
        sha=None,
        branch=None,
        run_id="build-77",
        workflow=workflow,
    )


def test_a_run_naming_no_commit_or_ref_matches_rules_open_to_every_branch() -> None:
    result = plan(refless("build-web"), config(CDEVENTS_RULES))

    assert [(i.image, i.tag) for i in result.intents] == [("ghcr.io/acme/web", "run-build-77")]
    assert result.intents[0].origin.commit is None


def test_a_run_naming_no_commit_cannot_fill_a_sha_template() -> None:
    result = plan(refless("sha-web"), config(CDEVENTS_RULES))

    assert result.intents == ()
    assert any("needs {short_sha}" in s.reason for s in result.skips)
