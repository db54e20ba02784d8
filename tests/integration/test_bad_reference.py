"""A bad reference fails only its edit, on the running service (web + worker process + Redis +
local git forge), and a fixed config takes effect at once (issue 21, item 5): discovery reaching a
Kustomize component whose ``newName`` is a placeholder still opens the PR with the other file,
names the placeholder file on the PR and the status page, and an ``exclude`` added to the running
config clears both without a new version."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from bot.cli import main
from bot.settings import Settings
from bot.store.groups import GroupStore
from tests.integration.service_fixture import API, IMAGE, REPO, Service, start_service

pytestmark = pytest.mark.slow

GROUP = f"local:{REPO}:main:dev"
COMPONENT = "envs/dev/components/registry/kustomization.yaml"
FILES = {
    "envs/dev/api.yaml": API,
    COMPONENT: (
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nimages:\n"
        f"- name: {IMAGE}\n  newName: CONTAINER_IMAGES_REGISTRY/api\n"
    ),
}


def routing(root: Path, exclude: str = "") -> str:
    return f"""\
forges:
  - {{name: local, kind: local, path: "{root}"}}
environments: {{dev: {{}}}}
defaults: {{policy: {{verify: false}}}}  # the image lives in no registry here
rules:
  - name: api
    image: {IMAGE}
    targets: [{{forge: local, repo: {REPO}, environment: dev, discover: {{include: ["envs/**"]{exclude}}}}}]
"""


@pytest.fixture
def service(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> Iterator[Service]:
    yield from start_service(tmp_path, make_settings, redis_conn, routing, files=FILES)


def last_error(service: Service) -> str | None:
    return GroupStore(service.conn, service.settings).get(GROUP).state.last_error


def test_a_placeholder_fails_only_its_file_and_an_exclude_clears_it(service: Service) -> None:
    delivery = service.push(IMAGE, "1.1.0")
    service.wait_settled()
    [pr] = service.prs()  # the group went ahead with the good file
    assert (
        f"image: {IMAGE}:1.1.0" in service.forge.read_file(REPO, "envs/dev/api.yaml", pr.head_branch).decode()
    )
    assert service.forge.read_file(REPO, COMPONENT, pr.head_branch).decode() == FILES[COMPONENT]
    said = f"{IMAGE} not updated: {COMPONENT}:4: images[0].newName is not an image name"
    assert said in pr.body and "Not updated (the rest of this PR went ahead)" in pr.body
    assert said in (last_error(service) or "")
    assert COMPONENT in service.status_page()
    # the delivery's outcome names the file and why, on the API, the page and the CLI alike
    found = service.app.test_client().get(f"/api/deliveries/{delivery}").get_json()
    assert found["verdict"] == "partly updated", found
    [outcome] = found["outcomes"]
    assert outcome["status"] == "accepted"
    assert f"but not in {COMPONENT}:4: images[0].newName is not an image name" in outcome["reason"]
    env = {"MANIFEST_BOT_REDIS_URL": service.settings.redis_url}
    env["MANIFEST_BOT_REDIS_PREFIX"] = service.settings.redis_prefix
    shown = CliRunner().invoke(main, ["status", "--delivery", delivery], env=env)
    assert shown.exit_code == 0, shown.output
    assert "partly updated" in shown.output and outcome["reason"] in shown.output
    assert "partly updated" in service.status_page()

    # the operator excludes the component; the running worker takes the file at its next job
    service.write_config(routing(service.root, ', exclude: ["envs/dev/components/**"]'))
    service.push("registry.example.com/shop/unrouted", "9.9.9")  # any delivery starts a job
    service.wait(lambda: last_error(service) is None, "the error to clear with the fixed config")
    service.wait(lambda: "[!WARNING]" not in service.prs()[0].body, "the PR's warning to clear")
    service.wait_settled()
    assert COMPONENT not in service.status_page()
    [pr] = service.prs()
    assert (
        f"image: {IMAGE}:1.1.0" in service.forge.read_file(REPO, "envs/dev/api.yaml", pr.head_branch).decode()
    )
