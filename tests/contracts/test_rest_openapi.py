"""Every REST request the tests send to GitHub matches an operation of GitHub's OpenAPI description
(``@octokit/openapi``: method, path, and a body valid for the operation's request schema, required
fields included), and every answer of the GitHub fake validates against that operation's response
schema for its status (which must be one the operation declares)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from bot.core.ports import PrUpdate, Reaction
from bot.services.lifecycle import sync_group
from tests.contracts import vendor
from tests.contracts.conftest import RECORDED, Exchange
from tests.fakes.github_api import GH as API
from tests.fakes.github_api import GitHubFake
from tests.services.lifecycle_fixture import REPO
from tests.services.lifecycle_worlds import FakeWorld, make_world

Operation = tuple[str, dict[str, Any]]  # (path template, operation object)


@cache
def _spec() -> dict[str, Any]:
    return vendor.load_json("openapi")


@cache
def _routes() -> list[tuple[str, re.Pattern[str], int, str, dict[str, Any]]]:
    """(method, path regex, literal length, template, operation) for every operation."""
    out = []
    for template, item in _spec()["paths"].items():
        pattern = "".join(
            "[^/]+" if part.startswith("{") else re.escape(part)
            for part in re.split(r"(\{[^}]+\})", template)
        )
        literal = len(re.sub(r"\{[^}]+\}", "", template))
        for method, op in item.items():
            if method in ("get", "put", "post", "patch", "delete"):
                out.append((method.upper(), re.compile(pattern + "$"), literal, template, op))
                # a last parameter may hold slashes (a file path, a ref name)
                greedy = pattern[: pattern.rfind("[^/]+")] + ".+" if template.endswith("}") else None
                if greedy:
                    out.append((method.upper(), re.compile(greedy + "$"), literal - 1, template, op))
    return out


def operation_for(method: str, path: str) -> Operation | None:
    path = path.removeprefix("/api/v3")
    found = [(lit, tpl, op) for m, rx, lit, tpl, op in _routes() if m == method and rx.match(path)]
    if not found:
        return None
    _lit, template, op = max(found, key=lambda f: f[0])
    return template, op


def _resolve(obj: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in obj:
        node: Any = _spec()
        for part in obj["$ref"].lstrip("#/").split("/"):
            node = node[part]
        obj = node
    return obj


@cache
def _validator(key: str) -> OAS30Validator | None:
    """``key`` = ``request <method> <template>`` or ``response <method> <template> <status>``."""
    kind, method, template, *status = key.split(" ")
    op = _spec()["paths"][template][method.lower()]
    if kind == "request":
        body = _resolve(op.get("requestBody") or {})
    else:
        body = _resolve((op.get("responses") or {}).get(status[0]) or {})
    schema = ((body.get("content") or {}).get("application/json") or {}).get("schema")
    if schema is None:
        return None
    return OAS30Validator(
        {**schema, "components": _spec()["components"]}, format_checker=oas30_format_checker
    )


def _errors(validator: OAS30Validator, value: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:200]}"
        for e in validator.iter_errors(value)
    ]


def problems(exchange: Exchange) -> list[str]:
    """What is wrong with one recorded request (and, for the fake, its answer)."""
    where = f"{exchange.method} {exchange.path}"
    found = operation_for(exchange.method, exchange.path)
    if found is None:
        return [f"{where}: no such operation in GitHub's OpenAPI description"]
    template, op = found
    out: list[str] = []
    request = _validator(f"request {exchange.method} {template}")
    if exchange.body is not None:
        if request is None:
            out.append(f"{where}: sends a body, the operation takes none")
        else:
            out += [f"{where} request {e}" for e in _errors(request, exchange.body)]
    elif request is not None and (op.get("requestBody") or {}).get("required"):
        out.append(f"{where}: the operation requires a body")
    if exchange.from_fake:
        status = str(exchange.status)
        if status not in (op.get("responses") or {}):
            out.append(f"{where}: the fake answers {status}, which {op['operationId']} does not declare")
        else:
            response = _validator(f"response {exchange.method} {template} {status}")
            if response is not None and exchange.answer is not None:
                out += [f"{where} answer {status} {e}" for e in _errors(response, exchange.answer)]
    return out


def _drive(world: FakeWorld) -> None:
    """Every route of the GitHub fake, through the real adapter and the PR lifecycle."""
    forge = world.forge
    assert isinstance(world.fake, GitHubFake)
    intent = world.intent()
    opened = sync_group(forge, [intent])
    assert opened.pr is not None
    number = opened.pr.number
    forge.update_pr(REPO, number, PrUpdate(labels=["dependencies"], assignees=["mona"], reviewers=["hubot"]))
    world.human_commit("manifest-bot/dev/apps", {"README.md": "a person\n"})
    sync_group(forge, [world.intent(tag="1.2.0")])  # blocked: compare, comment, body update
    sync_group(forge, [world.intent(tag="1.2.0")], force=True)  # regenerated with their file
    comment = forge.comment(REPO, number, "hello")
    forge.react(REPO, number, comment, Reaction.SEEN)
    forge.get_pr(REPO, number)
    head = forge.branch_head(REPO, "main")
    assert head is not None
    forge.set_status(REPO, head, "success", "manifest-bot/deploy/dev", "✅ deployed to dev")  # type: ignore[attr-defined]
    assert world.fake.statuses[head]["manifest-bot/deploy/dev"]["state"] == "success"
    forge.find_pr(REPO, "manifest-bot/dev/apps")
    forge.last_pr(REPO, "manifest-bot/dev/apps", "<!-- manifest-bot:")  # what a rebuild reads
    forge.list_tree(REPO, "main")
    forge.read_file(REPO, "README.md", "main")
    forge.close_pr(REPO, number, "closing")
    forge.delete_branch(REPO, "manifest-bot/dev/apps")
    forge.delete_branch(REPO, "manifest-bot/dev/apps")  # gone already: 422


@pytest.fixture(scope="module")
def driven(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    vendor.path("openapi")
    with make_world("github", Path(tmp_path_factory.mktemp("contract"))) as world:
        assert isinstance(world, FakeWorld)
        _drive(world)
    yield


def test_every_rest_request_matches_an_operation_and_every_fake_answer_its_schema(driven: None) -> None:
    rest = [x for x in RECORDED if not x.path.endswith("/graphql")]
    assert any(x.from_fake for x in rest)
    found: dict[str, list[str]] = {}
    for exchange in rest:
        for problem in problems(exchange):
            found.setdefault(problem, []).append(exchange.url)
    assert not found, "\n".join(f"{p}  ({len(urls)}x, e.g. {urls[0]})" for p, urls in sorted(found.items()))


def test_every_route_of_the_fake_was_checked(driven: None) -> None:
    """A route added to the fake without being driven here would never be validated."""
    answered = {
        (x.method, operation_for(x.method, x.path)[0])
        for x in RECORDED
        if x.from_fake and operation_for(x.method, x.path)
    }  # type: ignore[index]
    expected = {
        ("GET", "/repos/{owner}/{repo}/contents/{path}"),
        ("GET", "/repos/{owner}/{repo}/git/trees/{tree_sha}"),
        ("GET", "/repos/{owner}/{repo}/compare/{base}...{head}"),
        ("GET", "/repos/{owner}/{repo}/pulls"),
        ("POST", "/repos/{owner}/{repo}/pulls"),
        ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}"),
        ("PATCH", "/repos/{owner}/{repo}/pulls/{pull_number}"),
        ("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers"),
        ("PATCH", "/repos/{owner}/{repo}/issues/{issue_number}"),
        ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
        ("POST", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"),
        ("DELETE", "/repos/{owner}/{repo}/git/refs/{ref}"),
        ("POST", "/repos/{owner}/{repo}/statuses/{sha}"),
    }
    assert expected <= answered


def test_the_check_catches_a_wrong_request_and_a_wrong_answer(driven: None) -> None:
    bad_path = Exchange("POST", f"{API}/repos/acme/deploy/pullz", {"title": "t"}, 201, {}, None)
    assert any("no such operation" in p for p in problems(bad_path))
    missing_field = Exchange("POST", f"{API}/repos/acme/deploy/pulls", {"title": "t"}, 201, {}, None)
    assert any("'base' is a required property" in p for p in problems(missing_field))
    fake = {"X-Fake": "github"}
    thin_answer = Exchange("GET", f"{API}/repos/acme/deploy/pulls/1", None, 200, fake, {"number": 1})
    assert any("required property" in p for p in problems(thin_answer))
    undeclared = Exchange("GET", f"{API}/repos/acme/deploy/pulls/1", None, 418, fake, {})
    assert any("does not declare" in p for p in problems(undeclared))
