"""manifest-bot parse-webhook: the fixtures through the real CLI."""

from __future__ import annotations

import json

from click.testing import CliRunner

from bot.cli import main
from tests.sources.test_parse import FIXTURES


def run(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["parse-webhook", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_prints_events_as_json_with_contract_field_names() -> None:
    path = FIXTURES / "github" / "workflow_run.completed.json"
    code, out, _ = run(str(path), "--source", "github", "-H", "X-GitHub-Event: workflow_run")
    assert code == 0
    (event,) = json.loads(out)
    assert event["kind"] == "ci-finished"
    assert (event["repo"], event["branch"], event["status"], event["run_id"]) == (
        "octo-org/octo-repo",
        "main",
        "success",
        289782451,
    )


def test_auto_detects_the_source_from_headers_and_body() -> None:
    code, out, err = run(str(FIXTURES / "gar" / "insert.json"))
    assert code == 0
    assert json.loads(out)[0]["image"] == "us-east1-docker.pkg.dev/my-project/my-repo/hello-world"
    assert "gar" in err
    code, out, _ = run(
        str(FIXTURES / "gitlab" / "note.merge_request.json"), "-H", "X-Gitlab-Event: Note Hook"
    )
    assert json.loads(out)[0]["pr_number"] == 1


def test_ignored_delivery_prints_empty_list_and_reason_on_stderr() -> None:
    code, out, err = run("-", "--source", "github", "-H", "X-GitHub-Event: ping", stdin=b'{"zen": "x"}')
    assert code == 0
    assert json.loads(out) == []
    assert "ping" in err


def test_bad_input_is_a_clear_error() -> None:
    code, _, err = run("-", "--source", "generic", stdin=b"{oops")
    assert code == 1
    assert "not valid JSON" in err
    code, _, err = run("-", "-H", "no-colon", stdin=b"{}")
    assert code == 2
    assert "Name: value" in err
