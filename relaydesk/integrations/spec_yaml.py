"""Reading a spec document with its line numbers, and finding the line of a field path.

PyYAML's composer keeps a start mark on every node; :func:`locate` walks the node tree by a
pydantic error ``loc`` to find the line of the field (or, for a missing field, of the
mapping that lacks it). Dates stay strings (the YAML 1.1 timestamp rule is off), duplicate
keys are reported (PyYAML silently keeps the last), and aliases cannot blow the document up:
its size after alias expansion is bounded and recursive aliases are refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_SPEC_CHARS = 2_000_000
MAX_EXPANDED_NODES = 200_000
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader without the implicit timestamp type: ``2024-05-01`` stays a string."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

Located = tuple[int | None, str, str]  # (line, path, message)


@dataclass
class Parsed:
    data: Any = None
    node: Node | None = None
    #: the document could not be read at all
    problems: list[Located] = field(default_factory=list)
    #: readable, but suspicious (duplicate keys)
    warnings: list[Located] = field(default_factory=list)


def _line(node: Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None and node.start_mark else None


def _expanded_size(node: Node, sizes: dict[int, int], active: set[int]) -> int:
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in active:
        raise ValueError("recursive alias")
    active.add(key)
    total = 1
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            total += _expanded_size(key_node, sizes, active)
            total += _expanded_size(value_node, sizes, active)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            total += _expanded_size(item, sizes, active)
    active.discard(key)
    sizes[key] = min(total, MAX_EXPANDED_NODES + 1)
    return sizes[key]


def _duplicates(node: Node, path: str, seen: set[int], out: list[Located]) -> None:
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, MappingNode):
        keys: set[str] = set()
        for key_node, value_node in node.value:
            name = key_node.value if isinstance(key_node, ScalarNode) else None
            child = f"{path}.{name}" if path else str(name)
            if name is not None:
                if name in keys:
                    out.append((_line(key_node), child, "duplicate key (only the last one counts)"))
                keys.add(name)
            _duplicates(value_node, child, seen, out)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _duplicates(item, f"{path}[{index}]", seen, out)


def compose_document(text: str, filename: str) -> Parsed:
    """The document's data and node tree, or the reason it cannot be read (with its line)."""
    if len(text) > MAX_SPEC_CHARS:
        return Parsed(problems=[(None, "", f"larger than {MAX_SPEC_CHARS} characters")])
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            sizes: dict[int, int] = {}
            if _expanded_size(node, sizes, set()) > MAX_EXPANDED_NODES:
                return Parsed(problems=[(None, "", "too large once YAML aliases are expanded")])
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = ", ".join(part for part in (exc.context, exc.problem) if part)
        if text.lstrip().startswith(("{", "[")):
            return _json_only(text)
        return Parsed(problems=[(mark.line + 1 if mark else None, "", f"invalid YAML: {reason}")])
    except yaml.YAMLError as exc:
        return Parsed(problems=[(None, "", f"invalid YAML: {exc}")])
    except (ValueError, RecursionError):
        return Parsed(problems=[(None, "", "recursive YAML aliases are not allowed")])
    finally:
        loader.dispose()
    warnings: list[Located] = []
    if node is not None:
        _duplicates(node, "", set(), warnings)
    return Parsed(data=data, node=node, warnings=warnings)


def _json_only(text: str) -> Parsed:
    """A JSON document YAML 1.1 cannot read (e.g. tabs): data without line numbers."""
    try:
        return Parsed(data=json.loads(text))
    except json.JSONDecodeError as exc:
        return Parsed(problems=[(exc.lineno, "", f"invalid JSON: {exc.msg} (column {exc.colno})")])
    except RecursionError:
        return Parsed(problems=[(None, "", "JSON is nested too deeply")])


def _child(node: MappingNode, part: str | int) -> tuple[Node, Node] | None:
    wanted = str(part)
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == wanted:
            return key_node, value_node
    return None


Loc = tuple[str | int, ...]


def locate(root: Node | None, loc: Loc, *, missing: bool = False) -> tuple[int | None, Loc]:
    """(line, loc without union tags) of a pydantic error location in the node tree.

    Parts that are not in the document (pydantic's union tags such as ``api_key``) are
    dropped, except the last one of a ``missing`` error: the field that is absent (the line
    is then that of the mapping lacking it).
    """
    if root is None:
        return None, loc
    node = root
    key_node: Node | None = None
    kept: list[str | int] = []
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if part == "[key]":
            return _line(key_node or node), tuple(kept)
        found: tuple[Node, Node] | None = None
        if isinstance(node, MappingNode):
            found = _child(node, part)
        elif isinstance(node, SequenceNode) and isinstance(part, int):
            items = node.value
            found = (items[part], items[part]) if 0 <= part < len(items) else None
        if found is not None:
            key_node, node = found
            kept.append(part)
        elif last and missing:
            kept.append(part)
            return _line(key_node or node), tuple(kept)
    return _line(key_node or node), tuple(kept)
