"""deploy/: the files operators apply as they are. Docker and kubectl are not available here, so
these tests read the files the way those tools would and check what an operator relies on."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from bot.core.config.loader import load_config
from bot.core.manifests import Edit, Selector, edit, scan, select

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
BASE = DEPLOY / "kubernetes" / "base"
OVERLAY = DEPLOY / "kubernetes" / "overlays" / "example"


def load_all(path: Path) -> list[Any]:
    return [d for d in YAML(typ="safe").load_all(path.read_text(encoding="utf-8")) if d is not None]


def kustomize_objects(directory: Path) -> list[dict[str, Any]]:
    """Every object a kustomization pulls in (recursively through local directories)."""
    kustomization = load_all(directory / "kustomization.yaml")[0]
    objects: list[dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        target = (directory / resource).resolve()
        assert target.exists(), f"{directory}/kustomization.yaml names missing {resource}"
        objects.extend(kustomize_objects(target) if target.is_dir() else load_all(target))
    for generator in kustomization.get("configMapGenerator", []):
        for file in generator.get("files", []):
            assert (directory / file).exists(), f"configMapGenerator file {file} missing in {directory}"
    return objects


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return kustomize_objects(OVERLAY)


def test_overlay_builds_from_base_with_every_component(objects: list[dict[str, Any]]) -> None:
    assert set(by_kind(objects, "Deployment")) == {"manifest-bot-web", "manifest-bot-worker"}
    assert set(by_kind(objects, "StatefulSet")) == {"manifest-bot-redis"}
    assert set(by_kind(objects, "Service")) == {"manifest-bot-web", "manifest-bot-redis"}
    assert set(by_kind(objects, "Ingress")) == {"manifest-bot"}
    # secrets are referenced, never inlined
    assert by_kind(objects, "Secret") == {}


def test_web_has_probes_resources_and_runs_gunicorn_non_root(objects: list[dict[str, Any]]) -> None:
    web = by_kind(objects, "Deployment")["manifest-bot-web"]
    pod = web["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["args"] == [
        "gunicorn",
        "--config",
        "python:bot.web.gunicorn_conf",
        "bot.app:create_app()",
    ]
    env = {e["name"]: e["value"] for e in container["env"]}
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert env["PROMETHEUS_MULTIPROC_DIR"] in mounts  # a writable directory under a read-only root
    assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert {"secretRef": {"name": "manifest-bot"}} in container["envFrom"]
    # the Service routes to the pods and the Ingress to the Service
    service = by_kind(objects, "Service")["manifest-bot-web"]
    assert service["spec"]["selector"].items() <= web["spec"]["template"]["metadata"]["labels"].items()
    paths = by_kind(objects, "Ingress")["manifest-bot"]["spec"]["rules"][0]["http"]["paths"]
    assert [p["path"] for p in paths] == ["/webhooks/"]
    assert {p["backend"]["service"]["name"] for p in paths} == {"manifest-bot-web"}


def test_worker_runs_the_rq_worker_with_resources(objects: list[dict[str, Any]]) -> None:
    pod = by_kind(objects, "Deployment")["manifest-bot-worker"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["manifest-bot", "worker"]
    assert container["resources"]["requests"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["terminationGracePeriodSeconds"] >= 60
    # jobs run in the worker's own process (rq's SimpleWorker): no metrics of other processes
    # to add up, so no multiprocess directory
    env = {e["name"] for e in container.get("env", ())}
    assert "PROMETHEUS_MULTIPROC_DIR" not in env and env >= {"MANIFEST_BOT_WORKER_METRICS_PORT"}


def test_redis_persists_with_aof_on_a_volume(objects: list[dict[str, Any]]) -> None:
    redis = by_kind(objects, "StatefulSet")["manifest-bot-redis"]
    args = redis["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    (claim,) = redis["spec"]["volumeClaimTemplates"]
    mount = redis["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]
    assert mount == {"name": claim["metadata"]["name"], "mountPath": "/data"}


def test_every_pod_reads_the_env_configmap_whose_redis_url_names_the_redis_service() -> None:
    kustomization = load_all(BASE / "kustomization.yaml")[0]
    env = next(g for g in kustomization["configMapGenerator"] if g["name"] == "manifest-bot-env")
    literals = dict(item.split("=", 1) for item in env["literals"])
    assert literals["MANIFEST_BOT_REDIS_URL"].startswith("redis://manifest-bot-redis:6379/")
    assert set(literals) <= {line.split("=")[0].lstrip("# ") for line in _example_env_lines()}


def _example_env_lines() -> list[str]:
    text = (ROOT / "config" / "example.env").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if "MANIFEST_BOT_" in line and "=" in line]


@pytest.mark.parametrize("directory", [BASE, OVERLAY], ids=["base", "overlay"])
def test_the_bot_can_bump_its_own_image_through_its_marker(directory: Path) -> None:
    path = directory / "kustomization.yaml"
    text = path.read_text(encoding="utf-8")
    config = load_config(
        (directory / "config.yaml").read_text(encoding="utf-8"), str(directory / "config.yaml")
    )
    (rule,) = config.rules
    (target,) = rule.targets
    refs = select(scan(text, str(path)), Selector(marker=target.marker))
    assert [(r.kind, r.image, r.tag) for r in refs] == [
        ("kustomize", "ghcr.io/example/manifest-bot", "0.1.0")
    ]
    assert rule.matches_image("ghcr.io/example/manifest-bot")
    result = edit(text, str(path), [Edit(Selector(marker=target.marker), tag="0.2.0")])
    changed = [(a, b) for a, b in zip(text.splitlines(), result.text.splitlines(), strict=True) if a != b]
    assert len(changed) == 1 and "0.2.0" in changed[0][1] and "$manifest-bot" in changed[0][1]


def test_dockerfile_is_slim_non_root_and_serves_web_by_default() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    froms = re.findall(r"^FROM (\S+)", text, flags=re.M)
    assert froms and all("-slim" in f for f in froms)
    users = re.findall(r"^USER (\S+)", text, flags=re.M)
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert users[-1].split(":")[0].isdigit()  # numeric, so runAsNonRoot can check it
    cmd = re.search(r"^CMD (\[.*\])$", text, flags=re.M)
    assert cmd and json.loads(cmd[1]) == procfile_command("web")
    # the versions the suite ran with: requirements.lock constrains what the image installs
    assert "-c /tmp/constraints.txt ." in text and "requirements.lock" in text
    # no access log: registry tokens travel in the URL path
    assert "access-log" not in text
    # no secret baked into the image: only the config path is set through ENV
    env_block = text.rsplit("\nENV ", 1)[1].split("\n# ", 1)[0]
    assert re.findall(r"MANIFEST_BOT_\w+", env_block) == ["MANIFEST_BOT_CONFIG_PATH"]
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    assert ignore[ignore.index("**") :][:1] == ["**"]  # deny by default, then allow what the build copies
    for copied in re.findall(r"^COPY (?!--from)(.+) \S+$", text, flags=re.M):
        for path in copied.split():
            assert f"!{path}" in ignore or f"!{path}/**" in ignore, path


def procfile_command(process: str) -> list[str]:
    for line in (ROOT / "Procfile").read_text(encoding="utf-8").splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            return shlex.split(command)
    raise AssertionError(f"Procfile has no {process}: line")


def test_web_and_worker_commands_match_the_procfile(objects: list[dict[str, Any]]) -> None:
    deployments = by_kind(objects, "Deployment")
    web = deployments["manifest-bot-web"]["spec"]["template"]["spec"]["containers"][0]
    assert web["args"] == procfile_command("web")
    worker = deployments["manifest-bot-worker"]["spec"]["template"]["spec"]["containers"][0]
    assert worker["args"] == procfile_command("worker")


def test_github_app_manifest_asks_for_minimal_permissions_and_handled_events() -> None:
    manifest = load_all(DEPLOY / "github-app.yml")[0]
    assert manifest["default_permissions"] == {
        "contents": "write",
        "pull_requests": "write",
        "metadata": "read",
        "actions": "read",
        "checks": "read",
        "packages": "read",  # needed to receive registry_package (GHCR pushes)
        "issues": "write",  # reactions on PR comments (Issues only), the issue_comment subscription
        "statuses": "write",  # deployment state on merge commits
        "members": "read",  # organization: team membership for chat-ops team rules
        "merge_queues": "read",  # merge_group events (a queued PR is not rewritten)
    }
    assert set(manifest["default_events"]) == {
        "workflow_run",
        "check_suite",
        "push",
        "pull_request",
        "merge_group",
        "issue_comment",
        "registry_package",
    }
    assert manifest["hook_attributes"]["url"].endswith("/webhooks/github")
    assert manifest["public"] is False


# --- the GitHub App's permissions ------------------------------------------------------------------
#: What GitHub's "Permissions required for GitHub Apps" lists for the requests the bot makes on a
#: PR's conversation (github/docs, src/github-apps/data/fpt-2022-11-28/server-to-server-permissions.json):
#: request -> the permissions that each grant it on their own. Reactions to issue comments (a PR's
#: comments are issue comments) appear under "Issues" only; updating the issue (labels, assignees)
#: and commenting appear under both "Issues" and "Pull requests".
GITHUB_GRANTS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("PATCH", "/repos/{owner}/{repo}/issues/{issue_number}"): (
        ("issues", "write"),
        ("pull_requests", "write"),
    ),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments"): (
        ("issues", "write"),
        ("pull_requests", "write"),
    ),
    ("POST", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"): (("issues", "write"),),
    ("POST", "/repos/{owner}/{repo}/pulls"): (("pull_requests", "write"),),
    ("POST", "/repos/{owner}/{repo}/statuses/{sha}"): (("statuses", "write"),),
}
#: webhook events and the permission GitHub requires to subscribe to them (its webhook docs:
#: "To subscribe to this event, a GitHub App must have at least read-level access for …")
GITHUB_EVENT_PERMISSION = {
    "issue_comment": "issues",
    "pull_request": "pull_requests",
    "push": "contents",
    "merge_group": "merge_queues",  # GitHub's "Webhook events and payloads": merge_group
}
_LEVEL = {"read": 1, "write": 2}


def _template(method: str, path: str) -> tuple[str, str]:
    for key in GITHUB_GRANTS:
        pattern = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(key[1]))
        if key[0] == method and re.fullmatch(pattern, path):
            return key
    raise AssertionError(f"{method} {path}: no entry in GITHUB_GRANTS")


def _app_manifest() -> dict[str, Any]:
    return load_all(DEPLOY / "github-app.yml")[0]


def test_the_app_manifest_grants_every_request_the_pr_conversation_makes() -> None:
    """Open a PR with labels and assignees, comment, react, mark a commit: each request the GitHub
    adapter sends is granted by a permission the App manifest asks for, at the level GitHub documents."""
    import responses

    from bot.core.ports import ForgeInfo, Reaction
    from bot.forges.github.adapter import GitHubForge
    from bot.forges.github.clients import TokenCredentials
    from tests.forges.api import github_json

    api, repo = "https://api.github.com:443", "acme/deploy"  # PyGithub names the port
    gh = GitHubForge(ForgeInfo(name="gh", kind="github"), TokenCredentials("ghp_test"))
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.post(f"{api}/repos/{repo}/pulls", json=github_json("pull"), status=201)
        rsps.patch(f"{api}/repos/{repo}/issues/7", json={"number": 7})
        rsps.post(f"{api}/repos/{repo}/issues/7/comments", json=github_json("comment"), status=201)
        rsps.post(f"{api}/repos/{repo}/issues/comments/1/reactions", json=github_json("reaction"), status=201)
        rsps.post(f"{api}/repos/{repo}/statuses/{'a' * 40}", json={"id": 1, "state": "success"}, status=201)
        gh.open_pr(repo, "manifest-bot/dev/dev", "main", "t", "b", labels=["deps"], assignees=["hubot"])
        gh.comment(repo, 7, "hello")
        gh.react(repo, 7, 1, Reaction.SEEN)
        gh.set_status(repo, "a" * 40, "success", "manifest-bot/deploy/dev", "✅ deployed to dev")
        sent = [(c.request.method, c.request.path_url.split("?")[0]) for c in rsps.calls]
    granted = _app_manifest()["default_permissions"]
    for method, path in sent:
        options = GITHUB_GRANTS[_template(method, path)]
        assert any(_LEVEL.get(granted.get(p, ""), 0) >= _LEVEL[a] for p, a in options), (method, path)
    for event in _app_manifest()["default_events"]:
        needed = GITHUB_EVENT_PERMISSION.get(event)
        assert needed is None or granted.get(needed) in _LEVEL, event


def test_setup_and_forges_docs_say_what_the_manifest_asks_for() -> None:
    granted = _app_manifest()["default_permissions"]
    setup = (ROOT / "docs" / "setup.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| ([a-z ()]+?) \| (read|write) \|", setup, flags=re.M))
    for name, level in granted.items():
        label = {
            "pull_requests": "pull requests",
            "members": "members (organization)",
            "merge_queues": "merge queues",
        }.get(name, name)
        assert rows.get(label) == level, (
            f"docs/setup.md says {label}: {rows.get(label)}, the manifest {level}"
        )
    forges = (ROOT / "docs" / "forges.md").read_text(encoding="utf-8")
    for name, level in granted.items():
        assert f"{name.replace('_', ' ')} {level}" in forges, f"docs/forges.md does not say {name} {level}"
