"""GitLab publishes no complete machine-readable API schema (its OpenAPI description covers a few
endpoints only), so every route of the GitLab fake names the docs page its shapes follow, and the
requests the adapter sends go to exactly those routes."""

from __future__ import annotations

from tests.fakes.git_model import Git
from tests.fakes.gitlab_api import GitLabFake


def test_every_gitlab_fake_route_cites_the_gitlab_docs() -> None:
    routes = GitLabFake(Git({"a": b"x"})).routes()
    assert routes
    for method, pattern, _handler, docs in routes:
        assert docs.startswith("https://docs.gitlab.com/api/") and "#" in docs, (method, pattern.pattern)
    assert len({(m, p.pattern) for m, p, _h, _d in routes}) == len(routes)
