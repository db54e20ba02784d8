"""Signed sample deliveries, shaped like the vendors' own (only the fields the parsers read, plus
enough context to look real): a Harbor push, a generic curl push, GitHub ``workflow_run`` and
``issue_comment`` events."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

REGISTRY = "registry.example.com"


@dataclass(frozen=True)
class Post:
    """One HTTP delivery: ``POST /webhooks/<source>`` with these headers and body."""

    source: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    label: str = ""  # what the demo prints for it


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def hmac_sha256(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def harbor_push(secret: str, repository: str, tag: str, digest: str, occur_at: int) -> Post:
    """Harbor's Default-format PUSH_ARTIFACT, authenticated by its Auth Header."""
    project, _, name = repository.partition("/")
    body = _json(
        {
            "type": "PUSH_ARTIFACT",
            "occur_at": occur_at,
            "operator": "ci-robot",
            "event_data": {
                "resources": [
                    {
                        "digest": digest,
                        "tag": tag,
                        "resource_url": f"{REGISTRY}/{repository}:{tag}",
                    }
                ],
                "repository": {
                    "date_created": occur_at - 86400,
                    "name": name,
                    "namespace": project,
                    "repo_full_name": repository,
                    "repo_type": "private",
                },
            },
        }
    )
    return Post("harbor", body, {"Authorization": secret}, f"Harbor push {REGISTRY}/{repository}:{tag}")


def generic_push(secret: str, image: str, tag: str, *, note: str = "") -> Post:
    """What ``curl`` in any CI sends to /webhooks/generic (docs/setup.md)."""
    body = _json({"image": image, "tag": tag})
    headers = {"X-Manifest-Bot-Signature-256": hmac_sha256(secret, body)}
    return Post("generic", body, headers, f"curl push {image}:{tag}{note}")


def _github_headers(secret: str, event: str, body: bytes) -> dict[str, str]:
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": hmac_sha256(secret, body),
        "User-Agent": "GitHub-Hookshot/demo",
    }


def _repository(full_name: str) -> dict[str, Any]:
    owner, _, name = full_name.partition("/")
    return {
        "name": name,
        "full_name": full_name,
        "private": True,
        "owner": {"login": owner, "type": "Organization"},
        "html_url": f"https://github.com/{full_name}",
        "default_branch": "main",
    }


def workflow_run(
    secret: str, repo: str, *, run_number: int, sha: str, conclusion: str, branch: str = "main"
) -> Post:
    run_id = 9_000_000_000 + run_number
    body = _json(
        {
            "action": "completed",
            "workflow_run": {
                "id": run_id,
                "name": "build",
                "head_branch": branch,
                "head_sha": sha,
                "run_number": run_number,
                "event": "push",
                "status": "completed",
                "conclusion": conclusion,
                "html_url": f"https://github.com/{repo}/actions/runs/{run_id}",
                "created_at": "2024-05-02T10:00:00Z",
                "updated_at": f"2024-05-02T10:{run_number % 60:02d}:00Z",
            },
            "workflow": {"name": "build", "path": ".github/workflows/build.yml"},
            "repository": _repository(repo),
            "sender": {"login": "ci-bot", "type": "User"},
            "installation": {"id": 4242},
        }
    )
    label = f"GitHub workflow_run {repo} #{run_number} {conclusion}"
    return Post("github", body, _github_headers(secret, "workflow_run", body), label)


def issue_comment(
    secret: str, repo: str, *, pr_number: int, author: str, body_text: str, comment_id: int
) -> Post:
    body = _json(
        {
            "action": "created",
            "issue": {
                "number": pr_number,
                "title": "manifest-bot pull request",
                "state": "open",
                "pull_request": {"url": f"https://api.github.com/repos/{repo}/pulls/{pr_number}"},
                "user": {"login": "manifest-bot[bot]", "type": "Bot"},
            },
            "comment": {
                "id": comment_id,
                "body": body_text,
                "user": {"login": author, "type": "User"},
                "author_association": "MEMBER",
            },
            "repository": _repository(repo),
            "sender": {"login": author, "type": "User"},
            "installation": {"id": 4242},
        }
    )
    label = f"GitHub comment by @{author} on PR #{pr_number}: {body_text!r}"
    return Post("github", body, _github_headers(secret, "issue_comment", body), label)
