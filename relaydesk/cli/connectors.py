"""``relaydesk connectors``: the spec's JSON Schema, validating spec files, previewing mappings.

These commands need no database: they work on files, so they run in CI and in an editor's
save hook. Problems go to stdout as ``file:line: path: message`` (one per line, like a
compiler), and the exit code is 1 when there is any.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from relaydesk.integrations.canonical import validate_shape
from relaydesk.integrations.mapping import (
    BodyDecodeError,
    BodyFormat,
    apply_response,
    decode_body,
)
from relaydesk.integrations.spec import (
    ConnectorSpec,
    SpecInvalid,
    SpecProblem,
    load_spec_file,
    spec_json_schema,
)

app = typer.Typer(
    help="Connector specs: JSON Schema, validation, mapping preview.", no_args_is_help=True
)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def _load(path: Path) -> ConnectorSpec:
    try:
        return load_spec_file(path)
    except OSError as exc:
        problem = SpecProblem(str(path), None, "", f"cannot read: {exc.strerror or exc}")
        raise SpecInvalid([problem]) from None


@app.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of connector specs (for editors and CI)."""
    typer.echo(_dump(spec_json_schema()))


@app.command("validate")
def validate_cmd(
    files: list[Path] = typer.Argument(..., help="Spec files (YAML or JSON)", metavar="FILE..."),
) -> None:
    """Check spec files; print every problem as file:line: path: message (exit 1 if any)."""
    failed = False
    for path in files:
        try:
            spec = _load(path)
        except SpecInvalid as exc:
            failed = True
            for problem in exc.problems:
                typer.echo(str(problem))
            continue
        actions, callbacks = len(spec.actions), len(spec.callbacks)
        typer.echo(
            f"{path}: ok ({spec.kind} connector {spec.name!r}, {actions} action(s), "
            f"{callbacks} callback(s))"
        )
    if failed:
        raise typer.Exit(1)


_SAMPLE_FORMATS: dict[str, BodyFormat] = {".xml": "xml", ".json": "json", ".txt": "text"}


def _sample(path: Path, response_format: BodyFormat) -> Any:
    fmt = _SAMPLE_FORMATS.get(path.suffix.lower(), response_format)
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise _fail(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return decode_body(body, fmt)
    except BodyDecodeError as exc:
        raise _fail(f"{path}: {exc}") from None


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


@app.command("preview")
def preview_cmd(
    spec_file: Path = typer.Option(..., "--spec", help="The connector spec (YAML or JSON)"),
    action_name: str = typer.Option(..., "--action", help="The action whose mapping to apply"),
    sample: Path = typer.Option(
        ..., "--sample", help="A recorded response body: .json or .xml (XML is read as a dict)"
    ),
) -> None:
    """Apply an action's response select + mapping to a sample; print the result and errors."""
    try:
        spec = _load(spec_file)
    except SpecInvalid as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1) from None
    action = spec.actions.get(action_name)
    if action is None:
        known = ", ".join(spec.actions) or "none"
        raise _fail(f"{spec.name} has no action {action_name!r} (actions: {known})")

    result = apply_response(action, _sample(sample, action.response.format))
    errors = list(result.errors)
    if action.output is not None and result.value is not None:
        shape_errors = validate_shape(action.output, result.value, many=action.many)
        reported = {error.path for error in errors}
        errors += [error for error in shape_errors if error.path not in reported]
    typer.echo(_dump(result.value))
    for error in errors:
        typer.echo(f"error: {error}", err=True)
    if errors:
        typer.echo(f"{len(errors)} error(s)", err=True)
        raise typer.Exit(1)
