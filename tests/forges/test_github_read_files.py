"""GitHubForge.read_files: aliased ``object(expression:)`` fields in one GraphQL query per 50 paths,
REST contents reads (base64, exact bytes) only for what GraphQL cannot give exactly (binary,
truncated, non-UTF-8)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses

from bot.core.ports import BatchReader, ForgeInfo
from bot.errors import NotFound
from bot.forges.github.adapter import GitHubForge
from bot.forges.github.clients import TokenCredentials
from bot.forges.github.graphql import READ_CHUNK
from tests.fakes.github_shapes import content_file
from tests.forges.api import sent

CONFIGURED = "https://api.github.com"  # what a user writes
API = "https://api.github.com:443"  # PyGithub names the port in every URL it requests
GQL = f"{API}/graphql"
REPO = "acme/deploy"
SHA = "a" * 40


def blob(text: str | None, *, binary: bool = False, truncated: bool = False, size: int | None = None) -> Any:
    """A ``Blob`` as GitHub answers ``... on Blob { text isBinary isTruncated byteSize }``."""
    n = size if size is not None else len((text or "").encode())
    return {"text": text, "isBinary": binary, "isTruncated": truncated, "byteSize": n}


def answer(nodes: list[Any]) -> dict[str, Any]:
    return {"data": {"repository": {f"f{i}": node for i, node in enumerate(nodes)}}}


@pytest.fixture
def gh() -> GitHubForge:
    return GitHubForge(
        ForgeInfo(name="gh", kind="github"), TokenCredentials("ghp_secret"), api_url=CONFIGURED
    )


def test_many_files_in_one_query_with_paths_as_variables(
    rsps: responses.RequestsMock, gh: GitHubForge
) -> None:
    assert isinstance(gh, BatchReader)
    paths = ["apps/web.yaml", 'apps/we"ird } app.yaml', "gone.yaml", "apps", "apps/web.yaml"]
    rsps.post(
        GQL,
        json=answer([blob("image: web:1.0\n"), blob("\ufeffa: é\r\n"), None, {}]),
    )
    got = gh.read_files(REPO, paths, SHA)
    assert got == {
        "apps/web.yaml": b"image: web:1.0\n",
        'apps/we"ird } app.yaml': "\ufeffa: é\r\n".encode(),
        "gone.yaml": None,  # object: null, the path does not exist
        "apps": None,  # a Tree: no Blob fields
    }
    (call,) = rsps.calls
    body = sent(call)
    assert body["variables"] == {
        "owner": "acme",
        "name": "deploy",
        "e0": f"{SHA}:apps/web.yaml",
        "e1": f'{SHA}:apps/we"ird }} app.yaml',
        "e2": f"{SHA}:gone.yaml",
        "e3": f"{SHA}:apps",
    }
    query = body["query"]
    assert "f3: object(expression: $e3) { ... on Blob { text isBinary isTruncated byteSize } }" in query
    assert "weird" not in query and "$e4" not in query  # paths never spliced into the query text
    assert call.request.headers["Authorization"] == "token ghp_secret"


def test_binary_truncated_and_non_utf8_blobs_fall_back_to_raw_reads(
    rsps: responses.RequestsMock, gh: GitHubForge
) -> None:
    rsps.post(
        GQL,
        json=answer(
            [
                blob(None, binary=True, size=4),
                blob("a" * 10, truncated=True, size=20),
                blob("caf\ufffd\n", size=5),  # latin-1 on disk: GitHub's text is not the bytes
                blob("ok: 1\n"),
            ]
        ),
    )
    raw = {"logo.png": b"\x89PNG", "big.yaml": b"a" * 20, "latin.yaml": b"caf\xe9\n"}
    for path, data in raw.items():
        rsps.get(f"{API}/repos/{REPO}/contents/{path}", json=content_file(API, REPO, path, data, "main"))
    got = gh.read_files(REPO, [*raw, "ok.yaml"], "main")
    assert got == {**raw, "ok.yaml": b"ok: 1\n"}
    assert len(rsps.calls) == 4  # one query, three exact (base64) reads
    for call in rsps.calls[1:]:
        assert call.request.params == {"ref": "main"}


def test_chunks_of_fifty_paths_per_query(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    paths = [f"envs/app{i:03}.yaml" for i in range(2 * READ_CHUNK + 7)]

    def reply(request: Any) -> tuple[int, dict[str, str], str]:
        variables = json.loads(request.body)["variables"]
        count = len(variables) - 2
        nodes = [blob(variables[f"e{i}"].split(":", 1)[1]) for i in range(count)]
        return 200, {}, json.dumps(answer(nodes))

    rsps.add_callback("POST", GQL, callback=reply)
    got = gh.read_files(REPO, paths, SHA)
    assert got == {p: p.encode() for p in paths}
    sizes = [len(sent(c)["variables"]) - 2 for c in rsps.calls]
    assert sizes == [READ_CHUNK, READ_CHUNK, 7]
    asked = [sent(c)["variables"][f"e{i}"] for c in rsps.calls for i in range(len(sent(c)["variables"]) - 2)]
    assert asked == [f"{SHA}:{p}" for p in paths]


def test_a_single_path_is_one_raw_read(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.get(
        f"{API}/repos/{REPO}/contents/apps/web.yaml",
        json=content_file(API, REPO, "apps/web.yaml", b"image: web:1.0\n", "main"),
    )
    rsps.get(f"{API}/repos/{REPO}/contents/gone.yaml", status=404, json={"message": "Not Found"})
    assert gh.read_files(REPO, ["apps/web.yaml"], "main") == {"apps/web.yaml": b"image: web:1.0\n"}
    assert gh.read_files(REPO, ["gone.yaml"], "main") == {"gone.yaml": None}
    assert len(rsps.calls) == 2


def test_missing_repository_is_not_found(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.post(
        GQL,
        json={
            "data": {"repository": None},
            "errors": [
                {
                    "type": "NOT_FOUND",
                    "path": ["repository"],
                    "locations": [{"line": 1, "column": 60}],
                    "message": "Could not resolve to a Repository with the name 'acme/deploy'.",
                }
            ],
        },
    )
    with pytest.raises(NotFound):
        gh.read_files(REPO, ["a.yaml", "b.yaml"], "main")
