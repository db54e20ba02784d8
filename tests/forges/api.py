"""Helpers for the adapter tests: vendor-shaped API fixtures and the JSON a request sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent.parent / "fixtures" / "api"


def github_json(name: str) -> Any:
    """``tests/fixtures/api/github/<name>.json`` (shaped as GitHub's REST/GraphQL docs show)."""
    return json.loads((FIXTURES / "github" / f"{name}.json").read_text())


def gitlab_json(name: str) -> Any:
    """``tests/fixtures/api/gitlab/<name>.json`` (shaped as GitLab's API docs show)."""
    return json.loads((FIXTURES / "gitlab" / f"{name}.json").read_text())


def sent(call: Any) -> Any:
    """The JSON body a recorded ``responses`` call sent."""
    return json.loads(call.request.body)
