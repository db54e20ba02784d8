"""Discovery stays in its lane: a target that finds its files by searching the repository never
edits what another environment's target in the same repo and branch lists or discovers."""

from __future__ import annotations

import textwrap

from bot.core.config import load_config
from bot.core.events import ImagePushed
from bot.core.intents import PlanResult, UpdateIntent
from bot.core.planning import plan

HEAD = "forges:\n  - {name: github, kind: github}\n"


def planned(rules: str, image: str = "ghcr.io/acme/api") -> PlanResult:
    config = load_config(HEAD + "rules:\n" + textwrap.indent(textwrap.dedent(rules), "  "), "bot.yaml")
    return plan(ImagePushed(image=image, tag="1.2.3", digest=None, source="ghcr"), config)


def intents_by_env(rules: str) -> tuple[dict[str | None, UpdateIntent], list[str]]:
    result = planned(rules)
    return {i.environment: i for i in result.intents}, [s.reason for s in result.skips]


def test_an_unscoped_discovery_leaves_other_environments_files_and_lanes() -> None:
    by_env, skips = intents_by_env("""\
    - name: api
      image: ghcr.io/acme/api
      targets:
        - {forge: github, repo: acme/deploy, environment: dev, files: []}
        - {forge: github, repo: acme/deploy, environment: prod,
           files: [release/prod.yaml, "release/extra/*.yaml"]}
        - {forge: github, repo: acme/deploy, environment: staging, discover: {include: ["stage/**"]}}
        - {forge: github, repo: acme/other, environment: qa}
        - {forge: github, repo: acme/deploy, branch: legacy, environment: old}
    """)
    assert skips == []
    assert by_env["dev"].exclude == ("release/prod.yaml", "release/extra/*.yaml", "stage/**")
    # a scoped lane keeps its own globs and leaves only what others list
    assert by_env["staging"].exclude == ("release/prod.yaml", "release/extra/*.yaml")
    assert by_env["prod"].exclude == ()  # listed files are never narrowed
    assert by_env["qa"].exclude == () and by_env["old"].exclude == ()  # other repo, other branch


def test_files_another_environment_lists_are_theirs_whatever_the_image() -> None:
    by_env, _ = intents_by_env("""\
    - name: api
      image: ghcr.io/acme/api
      targets: [{forge: github, repo: acme/deploy, environment: dev}]
    - name: web
      image: ghcr.io/acme/web
      targets: [{forge: github, repo: acme/deploy, environment: prod, files: [release/prod.yaml]}]
    """)
    assert by_env["dev"].exclude == ("release/prod.yaml",)


def test_two_environments_discovering_the_same_image_everywhere_are_skipped() -> None:
    by_env, skips = intents_by_env("""\
    - name: api
      image_glob: "ghcr.io/acme/*"
      targets:
        - {forge: github, repo: acme/deploy, environment: dev}
        - {forge: github, repo: acme/deploy, environment: prod}
    """)
    assert by_env == {}
    assert skips == [
        "environment 'prod' also discovers ghcr.io/acme/api in acme/deploy without discover.include; set "
        "discover.include (or files) on these targets so that each edits only its own files",
        "environment 'dev' also discovers ghcr.io/acme/api in acme/deploy without discover.include; set "
        "discover.include (or files) on these targets so that each edits only its own files",
    ]


def test_same_environment_targets_share_their_repo() -> None:
    result = planned("""\
    - name: api
      image: ghcr.io/acme/api
      targets:
        - {forge: github, repo: acme/deploy, environment: dev, group: a}
        - {forge: github, repo: acme/deploy, environment: dev, group: b, files: [dev/b.yaml]}
    """)
    assert result.skips == ()
    assert [(i.group, i.exclude) for i in result.intents] == [("a", ()), ("b", ())]
