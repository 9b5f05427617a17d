"""Render the event reference (docs/events.md) from the catalogue.

    python -m relaydesk.events.docs            # write docs/events.md
    python -m relaydesk.events.docs --check    # exit 1 when docs/events.md is stale

For each catalogued event: its description, schema version, ordering key, personal-data
fields, source, the payload's fields (from the payload model's JSON Schema, serialization
mode: what consumers receive) and an example (the spec's first ``examples`` entry, else one
built from the schema). Field descriptions come from the JSON Schema or from the ``#:``
comment above the field in the payload model. ``tests/events/test_catalogue.py`` fails when the
committed file differs from :func:`render`.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from relaydesk.events.catalogue import CUSTOM_PREFIX, EventSpec, catalogue

__all__ = ["DOC_PATH", "REGENERATE", "example_payload", "field_rows", "render", "write"]

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "events.md"
REGENERATE = "python -m relaydesk.events.docs"

_INTRO = """\
# Events

<!-- Generated from the event catalogue by `{regenerate}` (`make events-docs`). Do not
edit by hand: change the event's EventSpec or payload model and regenerate; a test fails
when this file is stale. -->

Everything that happens in Relaydesk or in a connected system becomes an **event**: a dotted,
past-tense name (`order.shipped`), a typed payload and a schema version. An event is written
to the transactional outbox in the same transaction as the change it describes, so it exists
exactly when the change does; the bus then delivers it at least once to every consumer, in
order per ordering key — see [the event bus](event-bus.md) for delivery, retries, the
dead-letter store and replay. [Rules and automation](automation.md) trigger on events, and
[outbound webhooks](webhooks.md) deliver them to other systems (personal-data fields masked by
default).

## Names, versions and payloads

* Names are `<entity>.<past-tense verb>`, lower case. This page lists every catalogued name;
  `custom.*` is the one open family (below).
* Each event has one payload model. Adding an optional field keeps its `version`; removing or
  retyping a field, or changing a field's meaning, is a new version.
* Payloads are JSON: times are ISO 8601 with their offset (events from the demo's Chinese
  systems carry `+08:00`, Asia/Shanghai), money is an exact decimal string (`"129.00"`).
* **Ordering key**: the payload field whose value orders delivery; events with the same key
  (one order, one ticket) reach each consumer in the order they were emitted.
* **Personal data**: the fields listed are masked in outbound deliveries unless the
  subscription may send clear personal data (a permission, audited).

## The envelope

What every consumer (rule, webhook, worker) receives around the payload:

| field | type | description |
| --- | --- | --- |
| `id` | UUID (v7) | the event's id; time-ordered; consumers de-duplicate on it |
| `tenant_id` | UUID | the organisation the event belongs to |
| `type` | string | the event name, e.g. `order.shipped` |
| `version` | integer | the payload's schema version |
| `key` | string | the ordering key (the event id when the event has none) |
| `payload` | object | the event's payload, below |
| `occurred_at` | datetime | when the change was committed (UTC) |
| `source` | object | where it came from: `kind` (`callback`, `relaydesk`, `rule`, ...), details |
| `causation_id` | string, nullable | the event (or request) that caused this one |
| `correlation_id` | string, nullable | shared by a chain of events caused by one another |
| `depth` | integer | automation hops that led here (0 for a change made by a person or a system) |

## Events from existing systems

Connected systems report their changes through connector **callbacks**
([connectors](connectors.md)): a callback's `event_type` (fixed, or a map from the body such
as `{{expr: msgType, values: {{ORDER_SHIPPED: order.shipped}}}}`) must name an event of this
catalogue or a `custom.*` event — a connector spec naming another type is refused when it is
validated — and its `mapping` must produce the event's payload. The callback inbox stores
every verified callback once and processes it in its own transaction: the mapped payload is
validated against the event's model and written to the outbox with the inbox row's `done`
mark, so a callback becomes exactly one event. A payload that does not validate marks the
inbox row `failed` with the reason (the field path). Such events carry a `source` of kind
`callback` with `connector`, `instance`, `instance_id`, `callback`, `external_id` (the
sender's event id) and `sandbox`.
"""

_CUSTOM = """\
## custom.*

`custom.<name>` (for example `custom.vip_called`) is open: rules, API clients and connector
callbacks may emit any `custom.*` event, with any JSON object as payload, version 1 and no
ordering key unless the emitter gives one. Custom payloads are not checked and not masked:
do not put personal data in them.
"""


# --- field tables ----------------------------------------------------------------------------


def _resolve(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _resolve(defs[ref.removeprefix("#/$defs/")], defs)
    return schema


def _variants(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> tuple[list[Any], bool]:
    """(the non-null alternatives of a field's schema, whether null is allowed)."""
    options = schema.get("anyOf") or schema.get("oneOf")
    if not options:
        return [_resolve(schema, defs)], False
    resolved = [_resolve(option, defs) for option in options]
    present = [option for option in resolved if option.get("type") != "null"]
    return present, len(present) < len(resolved)


def _type_name(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    present, nullable = _variants(schema, defs)
    names = []
    for option in present:
        kind = option.get("type")
        if "enum" in option:
            names.append(" \\| ".join(f"`{json.dumps(v, ensure_ascii=False)}`"
                                      for v in option["enum"]))  # fmt: skip
        elif kind == "string" and option.get("format") == "date-time":
            names.append("datetime")
        elif kind == "string" and option.get("format"):
            names.append(f"string ({option['format']})")
        elif kind == "array":
            names.append(f"array of {_type_name(option.get('items', {}), defs)}")
        elif kind == "object" or "properties" in option:
            names.append("object")
        elif isinstance(kind, str):
            names.append(kind)
        else:
            names.append("any")
    text = " or ".join(names) or "any"
    return f"{text}, nullable" if nullable else text


def _comments(model: type[BaseModel]) -> dict[str, str]:
    """``#:`` comments written above the fields in the model's source (and its bases')."""
    found: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            lines = inspect.getsource(cls).splitlines()
        except (OSError, TypeError):
            continue
        pending: list[str] = []
        for line in lines:
            stripped = line.strip()
            if stripped.startswith("#:"):
                pending.append(stripped[2:].strip())
                continue
            match = re.match(r"([A-Za-z_][A-Za-z0-9_]*)\s*:", stripped)
            if match and pending:
                found[match.group(1)] = " ".join(pending)
            pending = []
    return found


def _pii(path: str, pii: Iterable[str]) -> bool:
    return any(path == p or path.startswith(p + ".") or path.startswith(p + "[]") for p in pii)


def field_rows(spec: EventSpec) -> list[tuple[str, str, bool, bool, str]]:
    """(dotted path, type, required, personal data, description) per payload field; nested
    objects and lists of objects are expanded (``items[].sku``)."""
    schema = spec.payload.model_json_schema(mode="serialization")
    defs = schema.get("$defs", {})
    comments = _comments(spec.payload)
    rows: list[tuple[str, str, bool, bool, str]] = []

    def walk(node: Mapping[str, Any], prefix: str, depth: int) -> None:
        required = set(node.get("required", ()))
        for name, field in node.get("properties", {}).items():
            path = f"{prefix}{name}"
            description = field.get("description") or (comments.get(name, "") if not prefix
                                                        else "")  # fmt: skip
            rows.append((path, _type_name(field, defs), name in required,
                         _pii(path, spec.pii), description))  # fmt: skip
            if depth >= 3:
                continue
            for option in _variants(field, defs)[0]:
                if "properties" in option:
                    walk(option, f"{path}.", depth + 1)
                items = _resolve(option.get("items", {}), defs)
                if option.get("type") == "array" and "properties" in items:
                    walk(items, f"{path}[].", depth + 1)

    walk(schema, "", 0)
    return rows


# --- examples --------------------------------------------------------------------------------


#: sample values by field name, for examples built from a schema (the demo's data)
_HINTS: dict[str, Any] = {
    "order_no": "YQ20261118001420",
    "ticket_no": "GD202611210015",
    "status": "shipped",
    "previous_status": "new",
    "name": "张伟",
    "customer_name": "张伟",
    "receiver_name": "张伟",
    "phone": "13937704964",
    "customer_phone": "13937704964",
    "receiver_phone": "13937704964",
    "mobile": "13937704964",
    "email": "zhang.wei@example.com",
    "carrier": "顺丰速运",
    "tracking_no": "SF3917063926178",
    "total": "134.00",
    "amount": "134.00",
    "currency": "CNY",
    "receiver_address": "四川省成都市武侯区天府大道北段210号3栋4单元423室",
    "instance": "orders",
    "connector": "orders",
    "action": "get_order",
    "effect": "read",
    "channel": "web_chat",
    "subject": "订单什么时候发货？",
    "note": "客户要求周末送货",
    "message": "订单系统超时未响应",
    "error_class": "retry",
    "error_code": "timeout",
    "actor_type": "user",
    "operator": "客服-小周",
    "remark": "已联系快递",
}
_UUID = "01938f2e-7c1a-7b3e-9d2f-5a8c6e4b1f07"


def _hint(name: str, kind: Any) -> Any:
    if name in _HINTS and kind in ("string", None):
        return _HINTS[name]
    if kind == "string" and (name.endswith("_id") or name == "id" or name == "by"):
        return _UUID
    return None


def _sample(schema: Mapping[str, Any], defs: Mapping[str, Any], name: str) -> Any:
    if schema.get("examples"):
        return schema["examples"][0]
    if schema.get("default") is not None:
        return schema["default"]
    present, _ = _variants(schema, defs)
    option = present[0] if present else {}
    if "enum" in option:
        return option["enum"][0]
    if "properties" in option:
        return {k: _sample(v, defs, k) for k, v in option["properties"].items()}
    kind = option.get("type")
    hinted = _hint(name, kind)
    if hinted is not None:
        return hinted
    if kind == "string":
        if option.get("format") == "date-time":
            return "2026-11-21T10:22:00+08:00"
        return f"<{name}>"
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "array":
        return [_sample(option.get("items", {}), defs, name)]
    return None


def example_payload(spec: EventSpec) -> dict[str, Any]:
    """The spec's first example, else one built from the payload's JSON Schema."""
    if spec.examples:
        return dict(spec.examples[0])
    schema = spec.payload.model_json_schema(mode="serialization")
    defs = schema.get("$defs", {})
    return {name: _sample(field, defs, name) for name, field in schema["properties"].items()}


# --- the page --------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _event_section(spec: EventSpec) -> list[str]:
    extra = spec.payload.model_config.get("extra")
    key = f"`{spec.key}`" if spec.key else "none (each event on its own)"
    pii = ", ".join(f"`{p}`" for p in spec.pii) or "none"
    lines = [
        f"### `{spec.name}`",
        "",
        spec.description,
        "",
        f"* version: {spec.version}",
        f"* ordering key: {key}",
        f"* personal data: {pii}",
        f"* source: {spec.source}",
        f"* payload model: `{spec.payload.__module__}.{spec.payload.__qualname__}`",
        "",
        "| field | type | required | personal data | description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for path, type_name, required, personal, description in field_rows(spec):
        lines.append(f"| `{path}` | {_cell(type_name)} | {'yes' if required else 'no'} | "
                     f"{'yes' if personal else ''} | {_cell(description)} |")  # fmt: skip
    if extra == "allow":
        lines += ["", "Other fields (a connector's mapping may add some) are passed on unchanged."]
    example = json.dumps(example_payload(spec), ensure_ascii=False, indent=2)
    lines += ["", "Example payload:", "", "```json", example, "```", ""]
    return lines


def render(specs: Mapping[str, EventSpec] | None = None) -> str:
    """docs/events.md for ``specs`` (default: the whole catalogue)."""
    specs = dict(sorted((specs if specs is not None else catalogue()).items()))
    lines = [_INTRO.format(regenerate=REGENERATE), "## Catalogue", ""]
    lines += ["| event | description | key | version |", "| --- | --- | --- | --- |"]
    for name, spec in specs.items():
        anchor = re.sub(r"[^a-z0-9_-]", "", name.lower())
        lines.append(f"| [`{name}`](#{anchor}) | {_cell(spec.description)} | "
                     f"{f'`{spec.key}`' if spec.key else '—'} | {spec.version} |")  # fmt: skip
    lines.append(f"| `{CUSTOM_PREFIX}*` | Any event of the open family (below). | — | 1 |")
    lines.append("")
    family = None
    for name, spec in specs.items():
        prefix = name.split(".", 1)[0]
        if prefix != family:
            family = prefix
            lines += [f"## {prefix}.*", ""]
        lines += _event_section(spec)
    lines.append(_CUSTOM)
    return "\n".join(lines).rstrip("\n") + "\n"


def write(path: Path = DOC_PATH) -> bool:
    """Write the page; True when it changed."""
    text = render()
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m relaydesk.events.docs", description="Render docs/events.md."
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is stale")
    parser.add_argument("--output", type=Path, default=DOC_PATH, help="default: docs/events.md")
    args = parser.parse_args(argv)
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != render():
            print(f"{args.output} is stale: run {REGENERATE} (make events-docs)", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    changed = write(args.output)
    print(f"{args.output} {'written' if changed else 'unchanged'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
