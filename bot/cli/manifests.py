"""``manifest-bot scan`` and ``manifest-bot bump``: the YAML engine on files (the only I/O here).

Exit codes of ``bump``: 0 something changed, 1 nothing matched or already at that value (stderr
says which), 2 an error (unreadable file, invalid YAML, invalid reference, unsafe edit: anything
that would change what was not selected or leave an invalid reference). Errors never come out
as a traceback, and a file is written only when every file edited cleanly. References left alone
on purpose (placeholders) and documents that do not parse among readable ones are listed on
stderr as ``note:`` lines.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tempfile
from dataclasses import asdict
from pathlib import Path

import click

from bot.core.images import parse_image, validate_digest, validate_tag
from bot.core.manifests import Edit, EditResult, Reference, Selector, edit, load_text, scan_report
from bot.core.manifests.charts import check_version
from bot.core.manifests.overrides import KUSTOMIZATION_FILES, overriding
from bot.core.manifests.patches import normalise
from bot.core.manifests.select import check_selector
from bot.errors import BotError

EXIT_CHANGED, EXIT_NOTHING, EXIT_ERROR = 0, 1, 2
_LINE = re.compile(r"[^\n]*\n|[^\n]+")
_REF_FIELDS = ("file", "line", "column", "doc", "path", "kind", "image", "tag", "digest", "marker")
_CHART_FIELDS = ("file", "line", "column", "doc", "path", "kind", "chart", "version")


class _Failed(Exception):
    """A user-facing error already worded; exit 2."""


def _read(file: str) -> tuple[bytes, str]:
    try:
        data = Path(file).read_bytes()
    except IsADirectoryError:
        raise _Failed(f"{file}: is a directory, not a manifest file") from None
    except OSError as exc:
        raise _Failed(f"{file}: cannot read: {exc.strerror or exc}") from None
    try:
        return data, load_text(data, file)
    except BotError as exc:
        raise _Failed(str(exc)) from None


def _error(message: str) -> None:
    click.echo(f"error: {message}", err=True)


@click.command("scan")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of text lines.")
def scan_command(files: tuple[str, ...], as_json: bool) -> None:
    """List every image and chart reference in FILE... (all YAML documents)."""
    rows: list[dict[str, object]] = []
    failed = False
    for file in files:
        try:
            _, text = _read(file)
            refs, skipped = scan_report(text, file)
        except _Failed as exc:
            _error(str(exc))
            failed = True
            continue
        except BotError as exc:
            _error(str(exc))
            failed = True
            continue
        for note in skipped:
            click.echo(f"note: {note}", err=True)
        rows.extend(_row(ref) for ref in refs)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        for r in rows:
            if "chart" in r:
                click.echo(
                    f"{r['file']}:{r['line']}:{r['column']}  doc={r['doc']}  {r['kind']}  {r['path']}  "
                    f"{r['chart']} {r['version']}"
                )
                continue
            version = (f":{r['tag']}" if r["tag"] else "") + (f"@{r['digest']}" if r["digest"] else "")
            marker = f"  marker={r['marker']}" if r["marker"] else ""
            click.echo(
                f"{r['file']}:{r['line']}:{r['column']}  doc={r['doc']}  {r['kind']:<9}  {r['path']}  "
                f"{r['image']}{version}{marker}"
            )
    raise SystemExit(EXIT_ERROR if failed else 0)


def _row(ref: Reference) -> dict[str, object]:
    """A scan row: an image's fields, or a chart's (``chart``: its name or ``oci://`` reference)."""
    row = asdict(ref)
    if ref.is_chart:
        row["chart"], row["version"] = ref.image, ref.tag
        return {k: row[k] for k in _CHART_FIELDS}
    return {k: row[k] for k in _REF_FIELDS}


def _selector(
    image: str | None, chart: str | None, marker: str | None, path: str | None, doc: int | None
) -> Selector:
    selector = Selector(image=image, chart=chart, marker=marker, path=path, doc=doc)
    try:
        check_selector(selector)
    except ValueError:
        raise click.UsageError(
            "give exactly one of --image, --marker or --path, or --chart (--doc only with --path)"
        ) from None
    if path is not None:
        try:
            normalise(path)
        except ValueError as exc:
            raise click.UsageError(f"--path: {exc}") from None
    if marker is not None and (marker.count(":") != 1 or not all(marker.split(":"))):
        raise click.UsageError(f"--marker must look like NAMESPACE:NAME, got {marker!r}")
    return selector


def _describe(selector: Selector) -> str:
    if selector.image is not None:
        return f"--image {selector.image}"
    if selector.chart is not None:
        return f"--chart {selector.chart}"
    if selector.marker is not None:
        return f"--marker {selector.marker}"
    return f"--path {selector.path} --doc {selector.doc or 0}"


def lines(text: str) -> list[str]:
    """Lines ended by ``\\n`` only (``str.splitlines`` also splits at ``\\r``, U+2028 …, which
    are characters inside a line of a YAML file here)."""
    return _LINE.findall(text)


def unified_diff(file: str, before: str, after: str) -> str:
    """A unified diff of one file, ``\\ No newline at end of file`` included."""
    diff = difflib.unified_diff(lines(before), lines(after), f"a/{file}", f"b/{file}")
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in diff
    )


def _write(file: str, text: str) -> None:
    """Replace the file atomically (same directory, same permission bits)."""
    target = Path(file)
    mode = target.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(text.encode("utf-8"))
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@click.command("bump")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--image", help="Every reference to this image (normalised match, never a prefix).")
@click.option("--chart", help="Every reference to this chart (its name, or oci://… for OCI sources).")
@click.option("--marker", help="Values carrying the setter marker NAMESPACE:NAME.")
@click.option(
    "--path", "path", help="One scalar by dotted path, [i] for list items; PATCH|PATH inside an inline patch."
)
@click.option("--doc", type=click.IntRange(min=0), help="Document index for --path (0-based, default 0).")
@click.option("--tag", help="The new tag.")
@click.option("--version", "chart_version", help="The new chart version (with --chart).")
@click.option("--digest", help="The new digest (algorithm:hex).")
@click.option("--name", "new_name", help="Rename: write this image name (promotion across registries).")
@click.option("--write", is_flag=True, help="Edit the files in place instead of printing a diff.")
def bump_command(  # noqa: PLR0917 - click passes each option as a parameter
    files: tuple[str, ...],
    image: str | None,
    chart: str | None,
    marker: str | None,
    path: str | None,
    doc: int | None,
    tag: str | None,
    digest: str | None,
    chart_version: str | None,
    new_name: str | None,
    write: bool,
) -> None:
    """Change the tag and/or digest (and with --name the image name) of the selected image
    references in FILE..., or with --chart and --version the version of a chart."""
    selector = _selector(image, chart, marker, path, doc)
    if chart is not None or chart_version is not None:
        if chart is None or chart_version is None or tag or digest or new_name:
            raise click.UsageError(
                "--chart goes with --version (and --version with --chart), no --tag/--digest/--name"
            )
        tag = chart_version
    elif tag is None and digest is None and new_name is None:
        raise click.UsageError("give --tag, --digest or both (or --name)")
    try:
        if chart is not None:
            check_version(chart_version or "")
        for value, check in ((tag if chart is None else None, validate_tag), (digest, validate_digest)):
            if value is not None:
                check(value)
        for name in (image, new_name):
            if name is not None:
                parse_image(name)
    except (BotError, ValueError) as exc:
        _error(str(exc))
        raise SystemExit(EXIT_ERROR) from None
    change = Edit(selector, tag=tag, digest=digest, image=new_name, rename=new_name is not None)
    results: list[tuple[str, str, EditResult]] = []
    try:
        for file in files:
            _, text = _read(file)
            results.append((file, text, edit(text, file, [change])))
    except (_Failed, BotError) as exc:
        _error(f"{exc}; no file was changed")
        raise SystemExit(EXIT_ERROR) from None
    for _, _, result in results:
        for note in result.skipped:
            click.echo(f"note: {note}", err=True)
    try:
        overridden = _overridden(results)
    except (_Failed, BotError) as exc:
        _error(f"{exc}; no file was changed")
        raise SystemExit(EXIT_ERROR) from None
    if overridden:
        for problem in overridden:
            _error(problem)
        _error("no file was changed")
        raise SystemExit(EXIT_ERROR)
    version = chart_version or (new_name or "") + (f":{tag}" if tag else "") + (
        f"@{digest}" if digest else ""
    )
    raise SystemExit(_report(selector, version, results, write))


def _overridden(results: list[tuple[str, str, EditResult]]) -> list[str]:
    """A line per changed value that a patch of a kustomization listing its file overrides (the
    kustomization next to the file, or one of the FILEs) and that this bump does not edit too."""
    given = {os.path.abspath(f): (text, result) for f, text, result in results}
    problems = []
    for file, _, result in results:
        if not result.changes or Path(file).name in KUSTOMIZATION_FILES:
            continue
        beside = [Path(file).absolute().parent / name for name in KUSTOMIZATION_FILES]
        candidates = {str(k) for k in beside if k.is_file()}
        candidates |= {k for k in given if Path(k).name in KUSTOMIZATION_FILES}
        for kustomization in sorted(candidates):
            if kustomization in given:
                text, done = given[kustomization][0], [c.path for c in given[kustomization][1].changes]
            else:
                text, done = _read(kustomization)[1], []
            for ref in overriding(kustomization, text, os.path.abspath(file), result.changes, done):
                shown = kustomization if os.path.isabs(file) else os.path.relpath(kustomization)
                problems.append(
                    f"{file}: {ref.image} is set to {_version(ref.tag, ref.digest)} by {shown}:{ref.line} "
                    f"{ref.path}, which kustomize applies over {Path(file).name}: the render would not "
                    f"change; bump {shown} too (give it as a FILE)"
                )
    return problems


def _version(tag: str | None, digest: str | None) -> str:
    return ((tag or "") + (f"@{digest}" if digest else "")) or "(no tag)"


def _report(selector: Selector, version: str, results: list[tuple[str, str, EditResult]], write: bool) -> int:
    changed = [(f, t, r) for f, t, r in results if r.changed]
    if not changed:
        matched = sum(r.matched for _, _, r in results)
        if matched:
            _error(
                f"already at that value: {matched} reference(s) matched {_describe(selector)} "
                f"and all are already at {version}"
            )
        else:
            left = sum(len(r.skipped) for _, _, r in results)
            why = f" that could be changed ({left} left alone, see the notes)" if left else ""
            _error(f"nothing matched {_describe(selector)}{why} in {', '.join(f for f, _, _ in results)}")
        return EXIT_NOTHING
    for file, text, result in changed:
        if write:
            try:
                _write(file, result.text)
            except OSError as exc:
                _error(f"{file}: cannot write: {exc.strerror or exc}")
                return EXIT_ERROR
            for c in result.changes:
                click.echo(f"{file}: doc {c.doc} {c.path}: {c.old or '(none)'} -> {c.new}", err=True)
        else:
            click.echo(unified_diff(file, text, result.text), nl=False)
    return EXIT_CHANGED


commands: list[click.Command] = [scan_command, bump_command]
