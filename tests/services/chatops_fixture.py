"""A chat-ops world: a local git manifest repo with dev/staging/prod, a routing config with a
promotion chain and chat-ops overrides, a container wired to it, and helpers that push versions
(through the real planner, intent store and reconcile) and write comments as people."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.events import ImagePushed, PrComment
from bot.core.planning import plan
from bot.core.ports import Permission, PullRequest
from bot.deps import Container
from bot.forges.local.adapter import LocalGitForge
from bot.jobs import runtime
from bot.services.reconcile import reconcile
from bot.settings import Settings
from tests.forges.local_fixture import seed_repo

REPO = "acme/deploy"
API = "ghcr.io/acme/api"
WEB = "ghcr.io/acme/web"
ENVS = ("dev", "staging", "prod")


def manifest(name: str, image: str, tag: str) -> str:
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
        f"  name: {name}\nspec:\n  template:\n    spec:\n      containers:\n"
        f"        - name: {name}\n          image: {image}:{tag}\n"
    )


FILES = {
    f"envs/{env}/{name}.yaml": manifest(name, image, "1.0.0")
    for env in ENVS
    for name, image in (("api", API), ("web", WEB))
}

PEOPLE = {
    "alice": Permission.WRITE,  # GitHub write / GitLab Developer
    "mona": Permission.MAINTAIN,
    "root": Permission.ADMIN,
    "rita": Permission.TRIAGE,  # GitHub triage / GitLab Reporter: read-only commands only
}


DEFAULT_CHATOPS: dict[str, Any] = {"default_permission": "write", "environments": {"prod": "maintain"}}


def _webhooks(forge_name: str) -> dict[str, str]:
    """A local forge named after a vendor takes that vendor's webhooks (say so in the config)."""
    return {"webhooks": forge_name} if forge_name in ("github", "gitlab") else {}


def config_dict(
    root: Path,
    forge_name: str = "local",
    chatops: dict[str, Any] | None = None,
    other_repo: str | None = None,
) -> dict[str, Any]:
    """Registry pushes reach dev only; staging and prod take versions by promotion (their rules
    match a CI that never runs: ``plan_for_environment`` finds them, pushes do not). With
    ``other_repo``, pushes of the api image also update that repository's dev environment."""

    def target(env: str) -> dict[str, Any]:
        return {"forge": forge_name, "repo": REPO, "environment": env, "files": [f"envs/{env}/*.yaml"]}

    rules: list[dict[str, Any]] = []
    for name, image in (("api", API), ("web", WEB)):
        rules.append({"name": name, "image": image, "targets": [target("dev")]})
        later = [target(env) for env in ENVS[1:]]
        never = {"repo": "acme/releases", "branches": [], "image": image, "tag": "{sha}"}
        rules.append({"name": f"{name}-promoted", "ci": never, "targets": later})
    if other_repo is not None:
        other = {"forge": forge_name, "repo": other_repo, "environment": "dev", "files": ["envs/dev/*.yaml"]}
        rules.append({"name": "api-other", "image": API, "targets": [other]})
    return {
        "version": 1,
        "forges": [{"name": forge_name, "kind": "local", "path": str(root), **_webhooks(forge_name)}],
        # the images live in no registry: these worlds are about races and chat-ops, not registries
        "defaults": {"policy": {"ordering": "semver", "verify": False}},
        "environments": {env: {} for env in ENVS},
        "promotion": [{"name": "default", "environments": list(ENVS)}],
        "rules": rules,
        "chatops": chatops if chatops is not None else DEFAULT_CHATOPS,
    }


@dataclass
class ChatWorld:
    root: Path
    container: Container
    forge: LocalGitForge
    forge_name: str = "local"
    deliveries: int = 0

    @property
    def settings(self) -> Settings:
        return self.container.settings

    def group_key(self, env: str) -> str:
        return f"{self.forge_name}:{REPO}:main:{env}"

    def branch(self, env: str) -> str:
        return f"manifest-bot/{env}/{env}"

    # --- versions arrive -------------------------------------------------------------------------
    def push(self, image: str, tag: str, envs: tuple[str, ...] = ("dev",), *, run: bool = True) -> None:
        """A registry push of ``image:tag`` planned for ``envs`` (other envs' intents are dropped,
        as if each environment had its own rule), merged, and reconciled unless ``run`` is False."""
        self.deliveries += 1
        result = plan(
            ImagePushed(image, tag, None, "test"), self.container.config, delivery_id=f"d{self.deliveries}"
        )
        intents = [i for i in result.intents if i.environment in envs]
        self.container.intents.merge(intents)
        if run:
            for env in envs:
                self.reconcile(env)

    def reconcile(self, env: str) -> None:
        report = reconcile(self.container.reconcile_deps, self.group_key(env))
        assert not report.deferred, "the repo lock was unexpectedly held"

    # --- reading the forge -----------------------------------------------------------------------
    def pr(self, env: str) -> PullRequest | None:
        found = [p for p in self.forge.list_prs(REPO) if p.head_branch == self.branch(env)]
        return found[-1] if found else None

    def open_pr(self, env: str) -> PullRequest:
        pr = self.pr(env)
        assert pr is not None and pr.state == "open", pr
        return pr

    def tag_on(self, ref: str, env: str, name: str = "api") -> str:
        text = self.forge.read_file(REPO, f"envs/{env}/{name}.yaml", ref).decode()
        return text.rsplit(":", 1)[1].strip()

    def comments(self, number: int) -> list[dict[str, Any]]:
        return list(self.forge.pr_record(REPO, number)["comments"])

    def reactions(self, number: int, comment_id: str) -> list[str]:
        for c in self.comments(number):
            if c["id"] == comment_id:
                return [r["content"] for r in c["reactions"]]
        raise AssertionError(f"no comment {comment_id}")

    def replies(self, number: int) -> list[str]:
        return [c["body"] for c in self.comments(number) if c["author"] == self.forge.info.bot_login]

    # --- people comment --------------------------------------------------------------------------
    def say(self, number: int, body: str, *, author: str = "alice") -> PrComment:
        cid = self.forge.comment(REPO, number, body, author=author)
        return PrComment(
            forge=self.forge_name, repo=REPO, pr_number=number, author=author, body=body, comment_id=cid
        )


def make_world(
    tmp_path: Path,
    settings: Settings,
    forge_name: str = "local",
    *,
    chatops: dict[str, Any] | None = None,
    teams: dict[str, list[str]] | None = None,
    other_repo: str | None = None,
    edit: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[ChatWorld]:
    """``forge_name`` names the local forge in the config: call it ``github`` or ``gitlab`` and its
    config says ``webhooks: <that vendor>``, so that vendor's webhooks (whose events carry the
    forge kind) are routed to it. ``chatops`` replaces the config's chat-ops section; ``teams``
    ({team: [user]}) is the forge's membership; ``other_repo`` adds a second manifest repository
    (same files) whose dev takes the api image; ``edit`` changes the config dict before it is
    written (a test's own routing: another policy, a merge method)."""
    root = tmp_path / "git"
    seed_repo(root, REPO, FILES)
    if other_repo is not None:
        seed_repo(root, other_repo, FILES)
    config_path = tmp_path / "config.yaml"
    config = config_dict(root, forge_name, chatops, other_repo)
    if edit is not None:
        edit(config)
    config_path.write_text(json.dumps(config))
    container = Container(settings.model_copy(update={"config_path": config_path}))
    forge = LocalGitForge(
        root, name=forge_name, permissions=PEOPLE, default_permission=Permission.READ, teams=teams
    )
    container.forges[forge_name] = forge
    runtime.install(container)
    try:
        yield ChatWorld(root, container, forge, forge_name)
    finally:
        runtime.install(None)
