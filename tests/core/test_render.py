"""PR/commit/comment text: golden files in tests/fixtures/render/ (regenerate with
MANIFEST_BOT_UPDATE_GOLDEN=1 and review the diff), plus the marker's round trip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.core.group_state import GroupState, IgnoreMark, Pin
from bot.core.intents import Origin, UpdateIntent
from bot.core.marker import Marker, marker_prefix, parse_marker, render_marker, replace_marker
from bot.core.pr_options import PrOptions
from bot.core.render import (
    BodyInput,
    Row,
    already_applied_comment,
    blocked_comment,
    carried_comment,
    commit_message,
    error_comment,
    pr_body,
    pr_title,
)
from bot.errors import (
    AuthError,
    ConfigError,
    Conflict,
    ManifestError,
    NotFound,
    PermissionDenied,
    RateLimited,
    Transient,
    UnsafeEdit,
    ValidationFailed,
)

GOLDEN = Path(__file__).parent.parent / "fixtures" / "render"
DIGEST = "sha256:" + "ab" * 32


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("MANIFEST_BOT_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def intent(image: str, tag: str | None, **over: object) -> UpdateIntent:
    values: dict[str, object] = {
        "forge": "github",
        "repo": "acme/deploy",
        "base_branch": "main",
        "group": "apps",
        "environment": "staging",
        "files": (),
        "image": image,
        "tag": tag,
        "digest": None,
        "ordering_scheme": "semver",
        "ordering_key": (1,),
    }
    values.update(over)
    return UpdateIntent(**values)  # type: ignore[arg-type]


MARKER = Marker(
    "github:acme/deploy:main:apps", "open", "b" * 40, "c" * 40, "f00d", ("envs/staging/api.yaml",)
)


def test_single_image_body_title_and_commit() -> None:
    api = intent(
        "ghcr.io/acme/api",
        "1.4.0",
        digest=DIGEST,
        origin=Origin(
            link="https://github.com/acme/api/actions/runs/42", commit="d" * 40, app_repo="acme/api"
        ),
    )
    rows = [
        Row(
            "envs/staging/api.yaml",
            "ghcr.io/acme/api",
            "ghcr.io/acme/api:1.3.2",
            "ghcr.io/acme/api:1.4.0@" + DIGEST,
            DIGEST,
        )
    ]
    assert pr_title([api], rows) == "chore(staging): bump api to 1.4.0"
    golden("single_body.md", pr_body(BodyInput([api], rows, MARKER)))
    golden("single_commit.txt", commit_message([api], rows))


def test_several_images_with_state() -> None:
    intents = [
        intent("docker.io/library/nginx", "1.27.1"),
        intent(
            "ghcr.io/acme/web",
            "2.1.0",
            origin=Origin(source="gitlab", app_repo="https://gitlab.example.com/acme/web", commit="e" * 40),
        ),
        intent("ghcr.io/acme/worker", None, digest=DIGEST, pin="digest"),
    ]
    rows = [
        Row("envs/staging/nginx.yaml", "docker.io/library/nginx", "nginx:1.27.0", "nginx:1.27.1"),
        Row("envs/staging/web-values.yaml", "ghcr.io/acme/web", "2.0.0", "2.1.0"),
        Row(
            "envs/staging/worker.yaml",
            "ghcr.io/acme/worker",
            "ghcr.io/acme/worker@sha256:00",
            "ghcr.io/acme/worker@" + DIGEST,
            DIGEST,
        ),
    ]
    state = GroupState(
        ignored=(IgnoreMark("ghcr.io/acme/api", (3,), "semver", "`ghcr.io/acme/api` 3.x and below"),),
        pinned=(Pin("docker.io/library/nginx", "1.27.1"),),
        hold=True,
        last_error=(
            "ghcr.io/acme/db not updated: envs/staging/db.yaml:3: duplicate key\n"
            "ghcr.io/acme/db: skipped envs/staging/big.yaml: over the YAML budget"
        ),
    )
    # three images whose list does not fit a title are counted; two are named
    assert pr_title(intents, rows) == "chore(staging): bump 3 images"
    assert pr_title(intents, rows[:2]) == "chore(staging): bump nginx to 1.27.1 and web to 2.1.0"
    golden("multi_body.md", pr_body(BodyInput(intents, rows, MARKER, state, "@manifest-bot")))
    golden("multi_commit.txt", commit_message(intents, rows))


def test_title_templates() -> None:
    many = [intent(f"ghcr.io/acme/s{i}", f"1.{i}.0") for i in range(5)]
    assert pr_title(many) == "chore(staging): bump 5 images"
    custom = PrOptions(title_template="deps({group}): {image} → {tag} [{count}]")
    assert pr_title([intent("a/b", "1")], (), custom) == "deps(apps): a/b → 1 [1]"
    assert pr_title([intent("a/b", "1", environment=None)]) == "chore(apps): bump b to 1"
    full = PrOptions(title_template="{env}: {image} {old} → {tag} ({short_image})")
    rows = [Row("a.yaml", "ghcr.io/acme/api", "ghcr.io/acme/api:1.0.0", "ghcr.io/acme/api:1.1.0")]
    assert pr_title([intent("ghcr.io/acme/api", "1.1.0")], rows, full) == (
        "staging: ghcr.io/acme/api 1.0.0 → 1.1.0 (api)"
    )
    with pytest.raises(ConfigError, match="template"):
        pr_title([intent("a/b", "1")], (), PrOptions(title_template="bump {nope}"))


def test_titles_name_only_images_the_diff_changes() -> None:
    pinned_api = intent("ghcr.io/acme/api", "1.2.0")  # the base already has it: no row
    web = intent("ghcr.io/acme/web", "2.0.0")
    rows = [Row("web.yaml", "ghcr.io/acme/web", "ghcr.io/acme/web:1.9.0", "ghcr.io/acme/web:2.0.0")]
    assert pr_title([pinned_api, web], rows) == "chore(staging): bump web to 2.0.0"
    assert commit_message([pinned_api, web], rows).startswith("chore(staging): bump web to 2.0.0\n")


def test_long_titles_are_cut_at_a_word_boundary() -> None:
    long = PrOptions(title_template="{env}: " + "please review this very important update " * 3 + "{tag}")
    title = pr_title([intent("a/b", "1.0.0")], (), long)
    assert len(title) <= 72 and title.endswith("…")
    assert title[:-1] == title[:-1].rstrip() and not title[:-1].endswith("importan")
    assert "please review this very important update please review" in title


def test_rollback_and_promotion_are_worded_as_such() -> None:
    rows = [Row("api.yaml", "ghcr.io/acme/api", "ghcr.io/acme/api:1.5.0", "ghcr.io/acme/api:1.4.2")]
    by_bob = Origin(source="chatops", actor="bob", from_pr=12, link="https://github.com/acme/deploy/pull/12")
    back = intent("ghcr.io/acme/api", "1.4.2", rollback=True, origin=by_bob)
    assert pr_title([back], rows) == "chore(staging): roll back api from 1.5.0 to 1.4.2"
    body = pr_body(BodyInput([back], rows, MARKER))
    assert body.startswith(
        "**Rollback** of `ghcr.io/acme/api` from `1.5.0` to `1.4.2`, requested by @bob in #12.\n"
    )
    promoted = Origin(
        source="chatops", actor="alice", from_pr=7, from_environment="staging",
        link="https://github.com/acme/deploy/pull/7",
    )  # fmt: skip
    up = intent("ghcr.io/acme/api", "1.5.0", environment="prod", origin=promoted)
    rows = [Row("api.yaml", "ghcr.io/acme/api", "ghcr.io/acme/api:1.4.2", "ghcr.io/acme/api:1.5.0")]
    assert pr_title([up], rows) == "chore(prod): promote api 1.5.0 from staging"
    body = pr_body(BodyInput([up], rows, MARKER))
    promotion = "**Promotion** of `ghcr.io/acme/api` from **staging** to **prod**, requested by @alice in #7."
    assert promotion in body
    assert "[source PR #7](https://github.com/acme/deploy/pull/7)" in body and "CI run" not in body


@pytest.mark.parametrize(
    ("origin", "links"),
    [
        pytest.param(
            Origin(source="github", app_repo="acme/api", commit="d" * 40,
                   link="https://ghe.example.com/acme/api/actions/runs/9"),
            "https://ghe.example.com/acme/api/compare/1.0.0...1.1.0",
            id="GitHub Enterprise, from the run link",
        ),
        pytest.param(
            Origin(source="gitlab", app_repo="group/sub/api", commit="d" * 40,
                   link="https://git.example.com/group/sub/api/-/pipelines/31"),
            "https://git.example.com/group/sub/api/-/compare/1.0.0...1.1.0",
            id="self-hosted GitLab, from the pipeline link",
        ),
        pytest.param(
            Origin(source="github", app_repo="acme/api", commit="d" * 40),
            "https://github.com/acme/api/compare/1.0.0...1.1.0",
            id="github.com, from the repo name",
        ),
    ],
)  # fmt: skip
def test_source_links_use_the_forge_the_build_ran_on(origin: Origin, links: str) -> None:
    rows = [Row("api.yaml", "ghcr.io/acme/api", "ghcr.io/acme/api:1.0.0", "ghcr.io/acme/api:1.1.0")]
    body = pr_body(BodyInput([intent("ghcr.io/acme/api", "1.1.0", origin=origin)], rows, MARKER))
    assert links in body


def test_a_registry_push_gets_no_guessed_links() -> None:
    origin = Origin(source="harbor", app_repo="acme/api", commit="d" * 40)
    pushed = intent("ghcr.io/acme/api", "1.1.0", origin=origin)
    rows = [Row("api.yaml", "ghcr.io/acme/api", "ghcr.io/acme/api:1.0.0", "ghcr.io/acme/api:1.1.0")]
    assert "github.com" not in pr_body(BodyInput([pushed], rows, MARKER))


def test_comments_golden() -> None:
    texts = [
        blocked_comment(["alice", "bob", "alice"], ["1" * 40, "2" * 40]),
        already_applied_comment("main", "9" * 40),
        carried_comment(["README.md"], ["envs/dev/api.yaml"]),
    ]
    errors = [
        UnsafeEdit("the edit would also change spec.replicas", file="envs/dev/api.yaml", line=12),
        ManifestError("file does not exist on the base branch (abc)", file="envs/x.yaml"),
        ConfigError("bad config", ["groups.apps.files: must not be empty", "forges.gh: unknown kind"]),
        RateLimited("secondary rate limit", retry_after=61.2),
        Transient("GitHub answered 502"),
        Conflict("branch moved"),
        AuthError("401 from https://api.github.com with token ghs_secret"),
        PermissionDenied("Resource not accessible by integration"),
        NotFound("acme/deploy: base branch main does not exist"),
        ValidationFailed("Validation Failed: head is invalid"),
        RuntimeError("boom with password=hunter2"),
    ]
    texts += [error_comment(e) for e in errors]
    golden("comments.md", "\n\n---\n\n".join(texts) + "\n")
    assert "hunter2" not in texts[-1] and "ghs_secret" not in texts[-5]


def test_marker_round_trip_and_safety() -> None:
    tricky = Marker("local:a/b:main:g--><script>", "blocked", None, None, "x", ("a-->b.yaml",), ("c",))
    text = render_marker(tricky)
    assert text.count("-->") == 1 and text.endswith(" -->")
    assert parse_marker(f"body\n\n{text}\n") == tricky
    assert text.startswith(marker_prefix(tricky.group))
    assert parse_marker("no marker here") is None
    assert parse_marker("<!-- manifest-bot:{not json} -->") is None
    assert parse_marker(None) is None
    moved = replace_marker(f"text\n{text}\n", MARKER)
    assert parse_marker(moved) == MARKER and moved.startswith("text\n")
    assert parse_marker(replace_marker("plain body", MARKER)) == MARKER


def test_a_compare_link_only_between_release_tags() -> None:
    """Image tags name git tags only for releases: ``run-40...run-45`` would be a broken link."""
    origin = Origin(source="github", app_repo="acme/api", commit="d" * 40)
    rows = [Row("api.yaml", "ghcr.io/acme/api", "ghcr.io/acme/api:run-40", "ghcr.io/acme/api:run-45")]
    run = intent("ghcr.io/acme/api", "run-45", origin=origin, ordering_scheme="run-number")
    body = pr_body(BodyInput([run], rows, MARKER))
    assert "compare/" not in body and "[commit dddddddddddd]" in body


def test_a_multi_image_title_fills_tag_and_old_truthfully() -> None:
    """issue 21, item 6: ``{tag}``/``{old}`` of several images say their one version, else how many."""
    options = PrOptions(title_template="deploy({env}): {short_image} {old} -> {tag}")
    same = [intent(f"ghcr.io/acme/s{i}", "v0.10.7") for i in range(4)]
    rows = [Row(f"k/s{i}.yaml", f"ghcr.io/acme/s{i}", "v0.10.6", "v0.10.7") for i in range(4)]
    assert pr_title(same, rows, options) == "deploy(staging): 4 images v0.10.6 -> v0.10.7"
    mixed = [*same[:2], intent("ghcr.io/acme/s2", "v0.10.8")]
    assert pr_title(mixed, rows[:3], options) == "deploy(staging): 3 images v0.10.6 -> 2 versions"
