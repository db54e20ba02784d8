"""Contract tests see every GitHub request the test session sends through ``responses``.

At collection, ``responses.RequestsMock`` is wrapped so each answered GitHub request is recorded
(method, URL, body; status, headers, body of the answer), and the contract tests are moved to the
end of the run so they see the others' traffic. Run alone, they still drive the GitHub fake through
the PR lifecycle themselves (``test_rest_openapi``), so they are never vacuous.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import responses


@dataclass(frozen=True, slots=True)
class Exchange:
    method: str
    url: str
    body: Any  # decoded JSON, or None
    status: int
    headers: dict[str, str]
    answer: Any  # decoded JSON, or None

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def from_fake(self) -> bool:
        return self.headers.get("X-Fake") == "github"


RECORDED: list[Exchange] = []


def is_github(url: str) -> bool:
    parts = urlsplit(url)
    return parts.hostname == "api.github.com" or parts.path.startswith(("/api/v3/", "/api/graphql"))


def _json(raw: Any) -> Any:
    if raw in (None, b"", ""):
        return None
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return None


_original = responses.RequestsMock._on_request


def _recording(self: responses.RequestsMock, adapter: Any, request: Any, **kwargs: Any) -> Any:
    response = _original(self, adapter, request, **kwargs)
    if is_github(str(request.url)):
        RECORDED.append(
            Exchange(
                request.method,
                str(request.url),
                _json(request.body),
                response.status_code,
                dict(response.headers),
                _json(response.content),
            )
        )
    return response


responses.RequestsMock._on_request = _recording  # type: ignore[method-assign]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Contract tests last: they check what the rest of the session sent."""
    items.sort(key=lambda item: "tests/contracts/" in str(item.path).replace("\\", "/"))
