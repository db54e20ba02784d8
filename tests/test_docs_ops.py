"""The commands and names that docs/setup.md, docs/operations.md and docs/demo.md tell people to
use really work: every ``manifest-bot`` command and option, the GitHub App manifest conversion,
the signed curl for the generic source, and every MANIFEST_BOT_* variable and webhook URL."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from bot.app import create_app
from bot.cli import main
from bot.settings import ENV_PREFIX, SECRET_PREFIX, Settings
from bot.sources import NAMES

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "docs" / name for name in ("setup.md", "operations.md", "demo.md")]
DEPLOY_TEXT = [p for p in (ROOT / "deploy").rglob("*") if p.is_file()]


def doc_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in DOCS)


def test_every_documented_manifest_bot_command_and_option_exists() -> None:
    text = doc_text()
    uses = re.findall(r"`manifest-bot ([a-z][^`]*)`", text)  # inline code
    for block in re.findall(r"```\w*\n(.*?)```", text, flags=re.S):  # lines of code blocks
        uses += re.findall(r"^\s*manifest-bot ([a-z].*)$", block, flags=re.M)
    commands = {u.split()[0] for u in uses}
    assert {"demo", "worker", "parse-webhook"} <= set(commands)
    for name in commands:
        assert name in main.commands, f"docs mention `manifest-bot {name}`, which does not exist"
        help_text = CliRunner().invoke(main, [name, "--help"]).output
        used = " ".join(u for u in uses if u.split()[0] == name)
        for option in set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", used)):
            assert option in help_text, f"`manifest-bot {name}` has no option {option}"


def test_every_documented_variable_is_a_setting() -> None:
    names = set(re.findall(r"\bMANIFEST_BOT_[A-Z0-9_]+", doc_text()))
    for path in DEPLOY_TEXT:
        names |= set(
            re.findall(r"\bMANIFEST_BOT_[A-Z0-9_]+", path.read_text(encoding="utf-8", errors="replace"))
        )
    assert names
    for name in sorted(names):
        base = name.removesuffix("_FILE")
        if base.startswith(SECRET_PREFIX):
            source = base[len(SECRET_PREFIX) :].lower()
            assert source in NAMES or source == "", name  # "" is the <SOURCE> placeholder
            continue
        field = base[len(ENV_PREFIX) :].lower()
        assert field in Settings.model_fields, f"{name} is documented but is no setting"


def test_every_documented_webhook_url_names_a_source() -> None:
    for source in re.findall(r"/webhooks/([a-z<>]+)", doc_text()):
        assert source in NAMES or source == "<source>", source
    listed = re.search(r"`<source>` is one of (.*?)\.\s", doc_text(), flags=re.S)
    assert listed and set(re.findall(r"`(\w+)`", listed[1])) == set(NAMES)


def test_github_app_manifest_conversion_command_gives_the_json_github_expects() -> None:
    """The command runs with the virtualenv README's set-up line makes (a fresh machine's
    ``python3`` has no YAML library), reading the manifest from standard input."""
    snippet = re.search(r"```sh\n\s*(\S+ -c .*?) < (deploy/github-app\.yml)", doc_text(), flags=re.S)
    assert snippet, "setup.md lost its manifest conversion command"
    argv = shlex.split(snippet[1])
    assert argv[0] == ".venv/bin/python", "the conversion must not depend on the system Python"
    argv[0] = sys.executable  # this test runs in that virtualenv
    manifest_yaml = (ROOT / snippet[2]).read_text(encoding="utf-8")
    out = subprocess.run(
        argv, cwd=ROOT, input=manifest_yaml, capture_output=True, text=True, check=True
    ).stdout
    manifest = json.loads(out)
    assert manifest["hook_attributes"]["url"].endswith("/webhooks/github")
    assert manifest["default_permissions"]["contents"] == "write"


def test_documented_generic_curl_signature_is_accepted(make_settings) -> None:  # type: ignore[no-untyped-def]
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    block = re.search(r"body='(.*?)'\nsig=\$\((.*?)\)\n", doc_text(), flags=re.S)
    assert block, "setup.md lost its generic curl example"
    body, pipeline = block[1], block[2]
    secret = "doc-example-secret"
    sig = subprocess.run(
        ["bash", "-c", f"body={shlex.quote(body)}; {pipeline}"],
        env={"GENERIC_SECRET": secret, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    settings = make_settings(webhook_secrets={"generic": (SecretStr(secret),)})
    client = create_app(settings).test_client()
    response = client.post(
        "/webhooks/generic",
        data=body.encode(),
        headers={"Content-Type": "application/json", "X-Manifest-Bot-Signature-256": f"sha256={sig}"},
    )
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["accepted"] == 1
