"""Deliveries for the chat-ops end-to-end tests, shaped as the vendors send them, signed, and
posted through the Flask app; and an in-process rq ``SimpleWorker`` that drains every queue."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from typing import Any

from flask import Flask
from rq.registry import FailedJobRegistry

from bot.deps import Container
from tests.engine_support import settle
from tests.services.chatops_fixture import REPO, ChatWorld

SECRET = "chatops-e2e-secret"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"


def _fixture(source: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / source / name).read_text())


def _sign(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def _post(app: Flask, path: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    resp = app.test_client().post(path, data=body, headers={"Content-Type": "application/json", **headers})
    assert resp.status_code in (200, 202), (resp.status_code, resp.get_data(as_text=True))
    return resp.get_json()


def github_comment(
    app: Flask,
    number: int,
    body: str,
    *,
    author: str,
    comment_id: int,
    repo: str = REPO,
    user_type: str = "User",
    created_at: float | None = None,
) -> dict[str, Any]:
    """An ``issue_comment`` ``created`` delivery on pull request ``number`` (written now unless
    ``created_at`` says when), under a fresh delivery id."""
    payload = copy.deepcopy(_fixture("github", "issue_comment.created.pull_request.json"))
    payload["repository"]["full_name"] = repo
    payload["issue"]["number"] = number
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created_at))
    payload["comment"].update(id=comment_id, body=body, created_at=stamp, updated_at=stamp)
    payload["comment"]["user"].update(login=author, type=user_type)
    raw = json.dumps(payload).encode()
    headers = {
        "X-GitHub-Event": "issue_comment",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": _sign(raw),
    }
    return _post(app, "/webhooks/github", raw, headers)


def gitlab_note(
    app: Flask,
    iid: int,
    body: str,
    *,
    author: str,
    note_id: int,
    repo: str = REPO,
    created_at: float | None = None,
) -> dict[str, Any]:
    """A ``Note Hook`` delivery for a comment on merge request ``iid`` (written now unless
    ``created_at`` says when), under a fresh delivery id."""
    payload = copy.deepcopy(_fixture("gitlab", "note.merge_request.json"))
    payload["project"]["path_with_namespace"] = repo
    payload["merge_request"]["iid"] = iid
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(created_at))
    payload["object_attributes"].update(id=note_id, note=body, created_at=stamp, updated_at=stamp)
    payload["user"]["username"] = author
    raw = json.dumps(payload).encode()
    headers = {
        "X-Gitlab-Event": "Note Hook",
        "X-Gitlab-Token": SECRET,
        "X-Gitlab-Event-UUID": str(uuid.uuid4()),
    }
    return _post(app, "/webhooks/gitlab", raw, headers)


def image_pushed(app: Flask, image: str, tag: str) -> dict[str, Any]:
    """A generic registry webhook: ``image:tag`` was pushed."""
    raw = json.dumps({"image": image, "tag": tag}).encode()
    headers = {"X-Manifest-Bot-Signature-256": _sign(raw), "X-Manifest-Bot-Delivery": str(uuid.uuid4())}
    return _post(app, "/webhooks/generic", raw, headers)


def drain(container: Container) -> None:
    """Handle every delivery and run every job in this process until nothing is left."""
    settle(container)


def failed(container: Container) -> list[str]:
    return FailedJobRegistry(queue=container.dispatch.queue).get_job_ids()


def comment_as(world: ChatWorld, number: int, body: str, author: str) -> int:
    """The person's comment as it exists on the (local) forge; returns its id."""
    return int(world.forge.comment(REPO, number, body, author=author))
