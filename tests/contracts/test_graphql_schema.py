"""Every GraphQL document the GitHub adapter can send, validated against GitHub's published schema
(``@octokit/graphql-schema``) with graphql-core, and its variables coerced to the declared types;
so is every GraphQL request the test session actually sent."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from graphql import GraphQLSchema, build_client_schema, parse, validate
from graphql.execution.values import get_variable_values

from bot.forges.github.graphql import documents
from tests.contracts import vendor
from tests.contracts.conftest import RECORDED


@cache
def _schema() -> GraphQLSchema:
    # GitHub's schema breaks two of graphql-core's own schema rules (deprecations on interface
    # fields): the schema is GitHub's to fix, so it is taken as valid and only our documents checked
    return build_client_schema(vendor.load_json("graphql"), assume_valid=True)


def check(query: str, variables: dict[str, Any]) -> list[str]:
    """Problems with one request: validation errors, then variables that do not coerce."""
    schema = _schema()
    document = parse(query)
    problems = [e.message for e in validate(schema, document)]
    (operation,) = document.definitions
    definitions = operation.variable_definitions  # type: ignore[attr-defined]
    declared = {d.variable.name.value for d in definitions}
    problems += [f"variable ${name} is sent but not declared" for name in set(variables) - declared]
    coerced = get_variable_values(schema, definitions, variables)  # values, or the coercion errors
    if isinstance(coerced, list):
        problems += [e.message for e in coerced]
    return problems


@pytest.mark.parametrize("name", sorted(documents()))
def test_every_document_the_adapter_can_send_is_valid(name: str) -> None:
    query, variables = documents()[name]
    assert check(query, variables) == []


def test_an_invalid_document_is_caught() -> None:
    """The check itself can fail: a wrong field, a wrongly typed variable."""
    query = "query($owner: String!, $name: String!) { repository(owner: $owner, name: $name) { idd } }"
    assert check(query, {"owner": "a", "name": "b"})
    query, variables = documents()["commit_on_branch"]
    broken = {"input": {k: v for k, v in variables["input"].items() if k != "branch"}}
    assert any("branch" in p for p in check(query, broken))
    query, variables = documents()["enable_auto_merge"]
    assert any(
        "mergeMethod" in p for p in check(query, {"input": {**variables["input"], "mergeMethod": "FAST"}})
    )


def test_every_graphql_request_the_tests_sent_is_valid() -> None:
    sent = [x for x in RECORDED if x.path.endswith("/graphql") and isinstance(x.body, dict)]
    problems = {}
    for exchange in sent:
        found = check(exchange.body["query"], exchange.body.get("variables") or {})
        if found:
            problems[exchange.body["query"][:80]] = found
    assert problems == {}
