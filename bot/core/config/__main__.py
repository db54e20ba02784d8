"""``python -m bot.core.config --write-schema [PATH]`` regenerates the config JSON Schema;
``--check-schema [PATH]`` exits 1 when the file differs from the model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.core.config.schema import SCHEMA_PATH, schema_text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.core.config")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write-schema", action="store_true")
    group.add_argument("--check-schema", action="store_true")
    parser.add_argument("path", nargs="?", type=Path, default=SCHEMA_PATH)
    args = parser.parse_args(argv)
    text = schema_text()
    if args.write_schema:
        args.path.write_text(text, encoding="utf-8")
        print(f"wrote {args.path}")
        return 0
    current = args.path.read_text(encoding="utf-8") if args.path.exists() else ""
    if current != text:
        print(f"{args.path} is out of date: run python -m bot.core.config --write-schema", file=sys.stderr)
        return 1
    print(f"{args.path} is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
