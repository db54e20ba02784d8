"""Helpers for the intake tests: signed requests for each source and an app on the test Redis."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import redis
from flask import Flask

from bot.app import create_app
from bot.deps import Container
from bot.settings import Settings

FIXTURES = Path(__file__).parent.parent / "fixtures" / "webhooks"
SECRET = "s3cret-for-tests-only"

#: one accepted delivery per source: (fixture, extra headers, number of events)
POSITIVE: dict[str, tuple[str, dict[str, str], int]] = {
    "github": ("workflow_run.completed", {"X-GitHub-Event": "workflow_run"}, 1),
    "gitlab": ("pipeline.success", {"X-Gitlab-Event": "Pipeline Hook"}, 1),
    "dockerhub": ("push", {}, 1),
    "harbor": ("push_artifact", {}, 1),
    "quay": ("repo_push", {}, 2),
    "acr": ("push", {}, 1),
    "ecr": ("image_push", {}, 1),
    "gar": ("insert", {}, 1),
    "artifactory": ("docker_pushed", {}, 1),
    "cdevents": ("pipelinerun_finished.custom_data", {}, 1),
    "generic": ("image", {}, 1),
    # the registry's own media type must pass the intake's JSON check
    "distribution": ("several", {"Content-Type": "application/vnd.docker.distribution.events.v1+json"}, 2),
    "flux": ("kustomization.succeeded", {"gotk-component": "kustomize-controller"}, 1),
    "argocd": ("sync-succeeded", {}, 1),
}


def fixture(source: str, name: str) -> bytes:
    return (FIXTURES / source / f"{name}.json").read_bytes()


def hub_signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def auth(source: str, body: bytes, secret: str = SECRET) -> tuple[str, dict[str, str]]:
    """The URL and headers that authenticate ``body`` for ``source`` the way its sender does."""
    if source == "github":
        return "/webhooks/github", {"X-Hub-Signature-256": hub_signature(body, secret)}
    if source == "gitlab":
        return "/webhooks/gitlab", {"X-Gitlab-Token": secret}
    if source in ("generic", "cdevents"):
        return f"/webhooks/{source}", {"X-Manifest-Bot-Signature-256": hub_signature(body, secret)}
    if source == "flux":
        return "/webhooks/flux", {"X-Signature": hub_signature(body, secret)}
    if source == "argocd":
        return "/webhooks/argocd", {"X-Manifest-Bot-Token": secret}
    if source == "harbor":
        return "/webhooks/harbor", {"Authorization": secret}
    return f"/webhooks/{source}/{secret}", {}


def make_app(settings: Settings, conn: redis.Redis | None = None) -> Flask:
    container = Container(settings)
    if conn is not None:
        container.__dict__["redis"] = conn  # share the test's connection (cached_property slot)
    return create_app(container=container)


def all_secrets(secret: str = SECRET) -> dict[str, list[str]]:
    from bot import sources

    return {name: [secret] for name in sources.NAMES}
