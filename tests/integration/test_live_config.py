"""What the operator configures takes effect on the running service (web + worker processes +
Redis + a local git forge): a changed routing config reaches the open PR on the next reconcile, an
invalid one is refused and shown while the old one keeps working, intents stored before PR settings
left them still load, and a manifest repo's own file is applied and its refused keys reported."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from bot.core.intents import Origin, UpdateIntent
from bot.core.ports import PrUpdate
from bot.settings import Settings
from bot.store.intents import IntentStore
from tests.integration.service_fixture import IMAGE, REPO, Service, start_service

pytestmark = pytest.mark.slow

GROUP = f"local:{REPO}:main:dev"


def routing(root: Path, *, pr: str = "{labels: [deps]}", extra: str = "") -> str:
    return f"""\
forges:
  - {{name: local, kind: local, path: "{root}"}}
environments: {{dev: {{}}}}
defaults:
  pr: {pr}
  policy: {{verify: false}}  # the image lives in no registry here
rules:
  - name: api
    image: {IMAGE}
    targets:
      - {{forge: local, repo: {REPO}, environment: dev, files: [envs/dev/api.yaml]}}
{extra}"""


@pytest.fixture
def service(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> Iterator[Service]:
    yield from start_service(tmp_path, make_settings, redis_conn, routing)


def only_pr(service: Service) -> tuple[str, frozenset[str]]:
    [pr] = service.prs()
    return pr.title, frozenset(pr.labels)


def test_a_changed_config_reaches_the_open_pr_and_an_invalid_one_is_refused(service: Service) -> None:
    service.push(IMAGE, "1.1.0")
    service.wait(lambda: len(service.prs()) == 1, "the dev PR")
    assert only_pr(service) == ("chore(dev): bump api to 1.1.0", frozenset({"deps"}))
    [pr] = service.prs()
    service.forge.update_pr(REPO, pr.number, PrUpdate(labels=("deps", "qa-first")))  # a person's label

    # the operator edits the file under the running worker; the next job start takes it
    new = "{labels: [deploy], title_template: 'deploy({env}): {short_image} {old} → {tag}'}"
    service.write_config(routing(service.root, pr=new))
    service.push("registry.example.com/shop/unrouted", "9.9.9")  # any delivery starts a job
    want = ("deploy(dev): api 1.0.0 → 1.1.0", frozenset({"deploy", "qa-first"}))
    service.wait(lambda: only_pr(service) == want, "the open PR to follow the new title and labels")
    digest = _sha256(service.config_path)
    assert digest[:12] in service.status_page()

    # an invalid file is refused on SIGHUP: the page and the log say why; the old config works on
    service.write_config(routing(service.root, pr=new).replace("image: registry", "imag: registry"))
    service.sighup()
    service.wait(
        lambda: "A new routing config was refused" in service.status_page(), "the refusal on the page"
    )
    page = service.status_page()
    assert "rules[0].imag: unknown key &#39;imag&#39;" in page
    assert "refused" in service.workers.logs() and "unknown key 'imag'" in service.workers.logs()
    service.push(IMAGE, "1.2.0")
    want = ("deploy(dev): api 1.0.0 → 1.2.0", frozenset({"deploy", "qa-first"}))
    service.wait(lambda: only_pr(service) == want, "the PR updated under the config still in use")
    assert len(service.prs()) == 1

    service.write_config(routing(service.root, pr=new))  # fixed: the refusal goes away
    service.sighup()
    service.wait(lambda: "A new routing config was refused" not in service.status_page(), "the refusal gone")


def test_intents_stored_with_pr_settings_still_load_and_get_the_current_ones(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    """An intent written before stored intents lost their PR settings (JSON with a "pr" object)
    is reconciled by a worker started afterwards, with the PR settings of the config now."""
    runs = start_service(tmp_path, make_settings, redis_conn, routing, workers=0)
    service = next(runs)
    try:
        store = IntentStore(redis_conn, service.settings)
        intent = UpdateIntent(
            forge="local",
            repo=REPO,
            base_branch="main",
            group="dev",
            environment="dev",
            files=("envs/dev/api.yaml",),
            image=IMAGE,
            tag="1.3.0",
            digest=None,
            ordering_scheme="semver",
            ordering_key=(1, 3, 0, 1, 0),
            origin=Origin(source="generic"),
        )
        store.merge([intent])
        old = intent.to_dict() | {
            "pr": {
                "title_template": "OLD {tag}",
                "commit_template": "OLD {tag}",
                "labels": ["stale"],
                "reviewers": [],
                "assignees": [],
                "draft": False,
                "auto_merge": False,
                "merge_method": "squash",
                "branch_prefix": "manifest-bot",
                "mode": "pr",
            }
        }
        redis_conn.hset(service.settings.key("intents", GROUP), intent.target_key, json.dumps(old))
        assert store.snapshot(GROUP).active[intent.target_key] == intent
        service.workers.start(1)  # its start-up sweep reconciles the group
        service.wait(lambda: len(service.prs()) == 1, "the PR from the stored intent")
        assert only_pr(service) == ("chore(dev): bump api to 1.3.0", frozenset({"deps"}))
    finally:
        next(runs, None)


REPO_FILES = "repo_files:\n  allow: [pr.labels, policy.ignore]\n"


def test_a_repo_file_is_applied_and_its_refused_keys_are_reported_once(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    runs = start_service(tmp_path, make_settings, redis_conn, lambda root: routing(root, extra=REPO_FILES))
    service = next(runs)
    try:
        text = "policy:\n  ignore: ['1.5.*']\npr:\n  labels: [manifests]\n  reviewers: [bob]\n"
        service.commit({".manifest-bot.yaml": text})
        service.push(IMAGE, "1.5.0")  # the repo ignores 1.5.*
        service.wait_settled()
        assert service.prs() == []

        service.push(IMAGE, "1.4.0")
        service.wait(lambda: len(service.prs()) == 1, "the dev PR")
        [pr] = service.prs()
        assert pr.labels == ("manifests",) and service.pr_record(pr.number)["reviewers"] == []
        problem = (
            f"{REPO}/.manifest-bot.yaml:5: pr.reviewers: not allowed by the central config "
            "(repo_files.allow permits: pr.labels, policy.ignore)"
        )
        service.wait(lambda: len(service.comments(pr.number)) == 1, "the comment about the repo file")
        assert problem in service.comments(pr.number)[0]
        service.wait(lambda: problem in service.status_page(), "the problem on the group's status")
        assert "Left out of the repository's own config file" in service.status_page()

        service.push(IMAGE, "1.4.1")  # said once: the next update does not repeat it
        service.wait(lambda: service.prs()[0].title.endswith("1.4.1"), "the PR at 1.4.1")
        service.wait_settled()
        assert len(service.comments(pr.number)) == 1

        service.commit({".manifest-bot.yaml": "policy:\n  ignore: ['1.5.*']\npr:\n  labels: [manifests]\n"})
        service.push(IMAGE, "1.4.2")
        service.wait(lambda: service.prs()[0].title.endswith("1.4.2"), "the PR at 1.4.2")
        service.wait(
            lambda: "Left out of the repository" not in service.status_page(),
            "the problem gone from the page",
        )
    finally:
        next(runs, None)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
