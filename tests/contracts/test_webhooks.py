"""Every GitHub webhook fixture validates against GitHub's webhook definitions
(``@octokit/openapi-webhooks``), and the parser (``bot.sources.github``) reads no field the
definition of that event lacks: it would be reading something GitHub never sends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from openapi_schema_validator import OAS31Validator

from bot.sources import github as source
from tests.contracts import vendor

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks" / "github"
NAMES = sorted(p.stem for p in FIXTURES.glob("*.json"))


def _spec() -> dict[str, Any]:
    return vendor.load_json("webhooks")


def webhook_key(name: str) -> tuple[str, str]:
    """``workflow_run.completed`` → (event header, definition key ``workflow-run-completed``)."""
    event, _, rest = name.partition(".")
    action = (rest.split(".")[0] if rest else "").replace("_", "-")
    dashed = event.replace("_", "-")
    key = f"{dashed}-{action}" if action and f"{dashed}-{action}" in _spec()["webhooks"] else dashed
    return event, key


@cache
def _schema(key: str) -> dict[str, Any]:
    body = _spec()["webhooks"][key]["post"]["requestBody"]
    return body["content"]["application/json"]["schema"]


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = _spec()
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _branches(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    schema = _resolve(schema)
    yield schema
    for combinator in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(combinator) or ():
            yield from _branches(sub)


def defines(schema: dict[str, Any], path: tuple[str | int, ...]) -> bool:
    """Does the schema define the field at ``path`` (keys, and ``[]`` for list items)?"""
    if not path:
        return True
    head, rest = path[0], path[1:]
    for branch in _branches(schema):
        if head == "[]" and "items" in branch and defines(branch["items"], rest):
            return True
        props = branch.get("properties") or {}
        if isinstance(head, str) and head in props and defines(props[head], rest):
            return True
        extra = branch.get("additionalProperties")
        if isinstance(head, str) and isinstance(extra, dict) and defines(extra, rest):
            return True
        if isinstance(head, str) and _free_form(branch):
            return True  # the vendor defines an object and nothing of its shape: whatever it holds
    return False


def _free_form(schema: dict[str, Any]) -> bool:
    """An object the definition gives no shape at all (``{"type": "object"}`` and no more), as
    GitHub's ``container_metadata.manifest``; any object with a shape is checked field by field."""
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    shaped = ("properties", "additionalProperties", "items", "allOf", "anyOf", "oneOf", "$ref")
    return "object" in kinds and not any(k in schema for k in shaped)


class Reading(dict):  # type: ignore[type-arg]
    """A payload object that notes each key the parser asks for (``get``, ``[]``, ``in``)."""

    def __init__(self, data: dict[str, Any], path: tuple[str | int, ...], seen: set[tuple[str | int, ...]]):
        super().__init__({k: _wrap(v, (*path, k), seen) for k, v in data.items()})
        self._path, self._seen = path, seen

    def get(self, key: Any, default: Any = None) -> Any:
        self._seen.add((*self._path, key))
        return super().get(key, default)

    def __getitem__(self, key: Any) -> Any:
        self._seen.add((*self._path, key))
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self._seen.add((*self._path, str(key)))
        return super().__contains__(key)


def _wrap(value: Any, path: tuple[str | int, ...], seen: set[tuple[str | int, ...]]) -> Any:
    if isinstance(value, dict):
        return Reading(value, path, seen)
    if isinstance(value, list):
        return [_wrap(v, (*path[:-1], path[-1], "[]"), seen) for v in value]
    return value


def fields_read(name: str, monkeypatch: pytest.MonkeyPatch) -> set[tuple[str | int, ...]]:
    seen: set[tuple[str | int, ...]] = set()
    original = source.load_object
    monkeypatch.setattr(source, "load_object", lambda body: Reading(original(body), (), seen))
    event, _key = webhook_key(name)
    source.parse({"x-github-event": event}, (FIXTURES / f"{name}.json").read_bytes())
    return seen


@pytest.mark.parametrize("name", NAMES)
def test_every_github_webhook_fixture_is_valid(name: str) -> None:
    _event, key = webhook_key(name)
    schema = _schema(key)
    validator = OAS31Validator({**schema, "components": _spec()["components"]})
    errors = [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:160]}"
        for e in validator.iter_errors(json.loads((FIXTURES / f"{name}.json").read_text()))
    ]
    assert errors == []


@pytest.mark.parametrize("name", NAMES)
def test_the_parser_reads_no_field_github_does_not_send(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    event, key = webhook_key(name)
    read = fields_read(name, monkeypatch)
    if event in source._HANDLERS and event != "ping":
        assert read, "the parser read nothing: the recording did not see it"
    assert sorted(map(str, (p for p in read if not defines(_schema(key), p)))) == []


def test_an_unknown_field_is_caught() -> None:
    assert not defines(_schema("workflow-run-completed"), ("workflow_run", "no_such_field"))
    assert defines(_schema("workflow-run-completed"), ("workflow_run", "head_sha"))
    # a free-form object lets anything under it, and nothing beside it
    published = _schema("registry-package-published")
    metadata = ("registry_package", "package_version", "container_metadata")
    assert defines(published, (*metadata, "manifest", "config", "media_type"))
    assert not defines(published, (*metadata, "no_such_field"))
