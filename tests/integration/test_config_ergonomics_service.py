"""Config ergonomics on the running service (web + worker process + Redis + local git forge): a
promote-only prod takes no registry push, one GitLab pipeline updates every image its build jobs
made, and Docker variant tags reach only the references of their variant."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from bot.settings import Settings
from tests.integration.service_fixture import IMAGE, REPO, Service, start_service

pytestmark = pytest.mark.slow

SHA = "5e8d9c0b1a2f3e4d5c6b7a8f9e0d1c2b3a4f5e6d"
FILES = {
    "envs/dev/api.yaml": f"image: {IMAGE}:1.0.0\n",
    "envs/prod/api.yaml": f"image: {IMAGE}:1.0.0\n",
    "envs/dev/redis.yaml": (
        "containers:\n"
        "  - name: cache\n    image: redis:7.4.1-alpine  # alpine, on purpose\n"
        "  - name: queue\n    image: redis:7.4.1\n"
    ),
    "envs/dev/shop.yaml": (
        "web:\n  image: registry.example.com/shop/web:0000000\n"
        "worker:\n  image: registry.example.com/shop/worker:0000000\n"
    ),
}


def routing(root: Path) -> str:
    def target(env: str, files: str) -> str:
        return f"{{forge: local, repo: {REPO}, environment: {env}, files: [{files}]}}"

    return f"""\
forges:
  - {{name: local, kind: local, path: "{root}"}}
environments: {{dev: {{}}, prod: {{promote_only: true}}}}
promotion: [{{name: main, environments: [dev, prod]}}]
defaults: {{policy: {{verify: false}}}}  # the images live in no registry here
rules:
  - name: api
    image: {IMAGE}
    targets: [{target("dev", "envs/dev/api.yaml")}, {target("prod", "envs/prod/api.yaml")}]
  - name: redis
    image: redis
    targets: [{target("dev", "envs/dev/redis.yaml")}]
  - name: shop
    ci: {{repo: acme/shop, forge: gitlab, jobs: ["build-*"], image: "registry.example.com/shop/{{job}}",
          tag: "{{short_sha}}"}}
    targets: [{target("dev", "envs/dev/shop.yaml")}]
"""


@pytest.fixture
def service(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> Iterator[Service]:
    yield from start_service(tmp_path, make_settings, redis_conn, routing, files=FILES)


def dev_file(service: Service, path: str) -> str:
    [pr] = service.prs()
    return service.forge.read_file(REPO, path, pr.head_branch).decode()


def test_promote_only_ci_images_and_variants_through_the_service(service: Service) -> None:
    service.push(IMAGE, "1.1.0")
    service.wait_settled()
    assert [p.head_branch for p in service.prs()] == ["manifest-bot/dev/dev"]  # prod took nothing

    service.push("redis", "7.4.2-alpine")  # a variant: no prerelease, and only the alpine line
    service.wait(lambda: "redis:7.4.2-alpine" in dev_file(service, "envs/dev/redis.yaml"), "the alpine bump")
    service.push("redis", "7.4.3")  # plain: only the plain line, the alpine one stays
    service.wait(lambda: "redis:7.4.3" in dev_file(service, "envs/dev/redis.yaml"), "the plain bump")
    service.push("redis", "7.4.9-slim")  # nothing here runs slim
    service.wait_settled()
    assert dev_file(service, "envs/dev/redis.yaml") == (
        "containers:\n"
        "  - name: cache\n    image: redis:7.4.2-alpine  # alpine, on purpose\n"
        "  - name: queue\n    image: redis:7.4.3\n"
    )

    service.pipeline("acme/shop", SHA, {"build-web": "success", "build-worker": "success", "test": "success"})
    want = (
        "web:\n  image: registry.example.com/shop/web:5e8d9c0\n"
        "worker:\n  image: registry.example.com/shop/worker:5e8d9c0\n"
    )
    service.wait(lambda: dev_file(service, "envs/dev/shop.yaml") == want, "both images of the pipeline")
    service.wait_settled()
    assert len(service.prs()) == 1
    assert service.forge.read_file(REPO, "envs/prod/api.yaml", "main").decode() == f"image: {IMAGE}:1.0.0\n"
