"""docs/connectors.md stays consistent with the spec models: every field of every section,
every enumerated value (kinds, auth types, placeholders, schemes, shapes, types, verdicts) is
documented, and the tutorial's spec validates and previews as the page shows."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from relaydesk.cli.connectors import app as connectors_cli
from relaydesk.integrations.canonical import SHAPES
from relaydesk.integrations.spec import ConnectorSpec, load_spec
from relaydesk.integrations.spec_models.action import OutputShape, ParamType
from relaydesk.integrations.spec_models.auth import CANONICAL_PLACEHOLDERS
from relaydesk.integrations.spec_models.callback import SignatureScheme
from relaydesk.integrations.spec_models.mapping import NAMED_FORMATS, FieldType
from relaydesk.integrations.spec_models.sections import ErrorKindName, ErrorVerdict
from relaydesk.kit.masking import PiiKind

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "connectors.md").read_text(encoding="utf-8")
CODE_SPANS = set(re.findall(r"`([^`\n]+)`", DOC))
WORDS_IN_CODE = {word for span in CODE_SPANS for word in re.findall(r"[A-Za-z_@][\w-]*", span)}


def _models(annotation: Any, seen: set[type[BaseModel]]) -> None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return
        seen.add(annotation)
        for field in annotation.model_fields.values():
            _models(field.annotation, seen)
        return
    for arg in get_args(annotation):
        _models(arg, seen)


def spec_fields() -> list[tuple[str, str]]:
    """(model, field name as written in a spec) of every model reachable from the spec."""
    seen: set[type[BaseModel]] = set()
    _models(ConnectorSpec, seen)
    return sorted(
        (model.__name__, field.alias or name)
        for model in seen
        for name, field in model.model_fields.items()
    )


@pytest.mark.parametrize(("model", "name"), spec_fields())
def test_every_field_of_the_spec_models_is_documented(model: str, name: str) -> None:
    assert name in WORDS_IN_CODE, f"{model}.{name} is not in docs/connectors.md"


def _values(alias: Any) -> list[str]:
    args = get_args(alias)
    if args and typing.get_origin(alias) is typing.Literal:
        return [str(a) for a in args]
    return [v for arg in args for v in _values(arg)]


@pytest.mark.parametrize("value", sorted(
    {*_values(OutputShape), *_values(ParamType), *_values(FieldType), *_values(ErrorVerdict),
     *_values(ErrorKindName), *_values(SignatureScheme), *NAMED_FORMATS, *SHAPES,
     *(str(kind) for kind in PiiKind), "http", "sql", "soap", "plugin", "none", "api_key",
     "bearer", "basic", "oauth2_client_credentials", "signing", "md5", "sha256",
     "hmac_sha256", "query", "header", "body", "ms", "s", "rows", "one", "rowcount",
     "json", "xml", "form", "text"}))  # fmt: skip
def test_every_enumerated_value_is_documented(value: str) -> None:
    assert value in WORDS_IN_CODE, value


@pytest.mark.parametrize("name", sorted(CANONICAL_PLACEHOLDERS))
def test_every_signing_placeholder_is_documented(name: str) -> None:
    assert f"`{{{name}}}`" in DOC


def _tutorial() -> str:
    return DOC[DOC.index("## Tutorial"):]


def test_the_tutorial_spec_validates_and_previews_as_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", _tutorial(), flags=re.DOTALL)
    text = "".join(blocks)
    spec = load_spec(text, "my-orders.yaml")  # steps 1, 2, 3 and 6 make one spec
    assert spec.name == "my_orders" and spec.auth.type == "signing" and len(spec.errors) == 3
    (tmp_path / "my-orders.yaml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(REPO)
    sample = "relaydesk/connectors/orders/fixtures/get_order.json"
    result = CliRunner().invoke(connectors_cli, [
        "preview", "--spec", str(tmp_path / "my-orders.yaml"), "--action", "get_order",
        "--sample", sample])  # fmt: skip
    assert result.exit_code == 0, result.output
    shown = re.search(r"```json\n(\{\n  \"order_no\".*?)```", _tutorial(), flags=re.DOTALL)
    assert shown is not None
    assert json.loads(result.stdout) == json.loads(shown.group(1))


def test_the_tutorial_shows_the_real_validation_messages(tmp_path: Path) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", _tutorial(), flags=re.DOTALL)
    text = "".join(b for b in blocks if not b.startswith("errors:"))
    broken = text.replace('format: "%Y-%m-%d %H:%M:%S"}', 'formt: "%Y-%m-%d"}', 1).replace(
        "{{ params.order_no }}", "{{ params.order }}", 1)
    path = tmp_path / "my-orders.yaml"
    path.write_text(broken, encoding="utf-8")
    result = CliRunner().invoke(connectors_cli, ["validate", str(path)])
    assert result.exit_code == 1
    for line in result.stdout.strip().splitlines():
        shown = line.replace(str(path), "my-orders.yaml")
        assert shown in DOC, shown
