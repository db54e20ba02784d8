"""The JSON Schema of the routing config, for editors (yaml-language-server) and CI (pure)."""

from __future__ import annotations

import json
from pathlib import Path

from bot.core.config.model import Config

#: where the exported schema lives in a source checkout
SCHEMA_PATH = Path(__file__).resolve().parents[3] / "config" / "schema.json"
SCHEMA_ID = "https://github.com/manifest-bot/manifest-bot/config/schema.json"


def schema() -> dict[str, object]:
    body = Config.model_json_schema(mode="validation")
    body["title"] = "manifest-bot routing config"
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **body}


def schema_text() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"
