"""Condition trees: ``all`` / ``any`` / ``not`` over leaves ``{path, op, value}``.

Leaves read the rule's context through :mod:`relaydesk.automation.paths`: ``event.*`` (the
trigger's envelope: ``event.type``, ``event.key``, ``event.payload.*``), ``customer.*`` (the
customer the event is about) and ``lookup.<name>.*`` (a connector lookup declared on the rule).
Definitions are checked once (:func:`parse_condition`, every problem with its field path) and
compiled; evaluation is then a walk over small objects.

Evaluation is three-valued so the event consumer can skip a rule cheaply: with only the event
known, a leaf over ``customer`` or ``lookup`` is *unknown*; ``all`` is false as soon as one
child is false, ``any`` true as soon as one is true, ``not`` keeps unknown unknown.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import re2

from relaydesk.automation.keywords import KeywordMatcher, normalise_text
from relaydesk.automation.paths import Path, PathError, compile_path
from relaydesk.automation.problems import Loc, Problems, dotted
from relaydesk.kit.masking import detect_and_mask_text

__all__ = ["CONDITION_ROOTS", "OPERATORS", "Condition", "Trace", "parse_condition"]

CONDITION_ROOTS = frozenset({"event", "customer", "lookup"})
MAX_DEPTH = 8
MAX_NODES = 200
MAX_LIST = 1000
MAX_REGEX = 300
#: the longest text a regex or keyword leaf looks at (longer values are cut)
MAX_TEXT = 20_000

Tri = bool | None
Trace = list[dict[str, Any]]


# --- operators -----------------------------------------------------------------------------


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return None
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", value):
        return Decimal(value.strip())
    return None


def _fold(value: Any, ignore_case: bool) -> Any:
    return normalise_text(value) if ignore_case and isinstance(value, str) else value


def _same(actual: Any, expected: Any, ignore_case: bool) -> bool:
    a, b = _number(actual), _number(expected)
    if a is not None and b is not None:
        return a == b
    return bool(_fold(actual, ignore_case) == _fold(expected, ignore_case))


def _order(actual: Any, expected: Any) -> int | None:
    """-1/0/1 comparing numbers (numeric strings too) or else two strings; None otherwise."""
    a, b = _number(actual), _number(expected)
    if a is not None and b is not None:
        return (a > b) - (a < b)
    if isinstance(actual, str) and isinstance(expected, str):
        return (actual > expected) - (actual < expected)
    return None


@dataclass(frozen=True)
class Operator:
    name: str
    description: str
    #: JSON Schema of ``value`` (for the UI builder)
    value_schema: dict[str, Any]
    options: tuple[str, ...] = ()


OPERATORS: dict[str, Operator] = {
    op.name: op
    for op in (
        Operator("equals", "equal (numbers compare by value: \"10.0\" equals 10)", {},
                 ("ignore_case",)),
        Operator("not_equals", "not equal", {}, ("ignore_case",)),
        Operator("in", "one of a list", {"type": "array", "maxItems": MAX_LIST},
                 ("ignore_case",)),
        Operator("not_in", "none of a list", {"type": "array", "maxItems": MAX_LIST},
                 ("ignore_case",)),
        Operator("contains", "a text contains a substring, or a list contains an element", {},
                 ("ignore_case",)),
        Operator("regex", "a text matches a regular expression (RE2 syntax: linear time, "
                 "no back-references)", {"type": "string", "maxLength": MAX_REGEX},
                 ("ignore_case",)),
        Operator("gt", "greater than (numbers, or ISO dates as text)",
                 {"type": ["number", "string"]}),
        Operator("gte", "greater than or equal", {"type": ["number", "string"]}),
        Operator("lt", "less than", {"type": ["number", "string"]}),
        Operator("lte", "less than or equal", {"type": ["number", "string"]}),
        Operator("exists", "the path has a value (not null); value false: it has none",
                 {"type": "boolean", "default": True}),
        Operator("keywords", "Chinese/English keyword match after NFKC, case folding and "
                 "full-width to half-width: Chinese keywords as substrings, others as whole "
                 "words; mode any (default) or all",
                 {"type": "array", "items": {"type": "string", "maxLength": 100},
                  "minItems": 1, "maxItems": 200}, ("mode",)),
    )
}  # fmt: skip


# --- compiled nodes --------------------------------------------------------------------------


def _shown(value: Any, budget: int = 500) -> Any:
    """A value as the execution log keeps it: personal data masked, long values cut."""
    if isinstance(value, str):
        text = value if len(value) <= 200 else value[:200] + "…"
        return detect_and_mask_text(text)
    if isinstance(value, Decimal | dt.date):
        return str(value)
    if isinstance(value, dict | list):
        if len(str(value)) > budget:
            return detect_and_mask_text(str(value)[:200] + "…")
        if isinstance(value, dict):
            return {str(k): _shown(v) for k, v in value.items()}
        return [_shown(v) for v in value]
    return value


@dataclass(frozen=True)
class Leaf:
    loc: str
    path: Path
    op: str
    value: Any
    test: Callable[[Any], bool]

    @property
    def roots(self) -> frozenset[str]:
        return frozenset({self.path.root})

    def evaluate(self, ctx: Mapping[str, Any], known: frozenset[str], trace: Trace | None) -> Tri:
        if self.path.root not in known:
            return None
        actual = self.path.get(ctx)
        try:
            result = self.test(actual)
        except (TypeError, ValueError, re2.error):  # a value of a type the operator cannot use
            result = False
        if trace is not None:
            trace.append({"loc": self.loc, "path": self.path.text, "op": self.op,
                          "value": _shown(self.value), "actual": _shown(actual),
                          "result": result})  # fmt: skip
        return result


@dataclass(frozen=True)
class Group:
    loc: str
    kind: Literal["all", "any", "not"]
    children: tuple[Condition, ...] = field(default=())

    def evaluate(self, ctx: Mapping[str, Any], known: frozenset[str], trace: Trace | None) -> Tri:
        if self.kind == "not":
            inner = self.children[0].evaluate(ctx, known, trace)
            return None if inner is None else not inner
        unknown = False
        stop = self.kind == "any"  # the value that decides the group
        for child in self.children:
            result = child.evaluate(ctx, known, trace)
            if result is None:
                unknown = True
            elif result is stop:
                return stop
        return None if unknown else not stop


Condition = Leaf | Group


# --- parsing -------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text[:MAX_TEXT]


def _make_test(op: str, value: Any, options: Mapping[str, Any]) -> Callable[[Any], bool]:
    ignore_case = bool(options.get("ignore_case", False))
    if op == "equals":
        return lambda a: a is not None and _same(a, value, ignore_case)
    if op == "not_equals":
        return lambda a: not _same(a, value, ignore_case)
    if op in ("in", "not_in"):
        wanted = list(value)
        negate = op == "not_in"
        return lambda a: negate != any(_same(a, w, ignore_case) for w in wanted)
    if op == "contains":
        needle = _fold(value, ignore_case)

        def contains(a: Any) -> bool:
            if isinstance(a, str):
                return isinstance(needle, str) and needle in _fold(a, ignore_case)
            if isinstance(a, list):
                return any(_same(item, value, ignore_case) for item in a)
            return False

        return contains
    if op == "regex":
        pattern = _compile_regex(value, ignore_case)
        return lambda a: (t := _text(a)) is not None and pattern.search(t) is not None
    if op in ("gt", "gte", "lt", "lte"):
        want = {"gt": (1,), "gte": (0, 1), "lt": (-1,), "lte": (-1, 0)}[op]
        return lambda a: _order(a, value) in want
    if op == "exists":
        present = value is None or bool(value)
        return lambda a: (a is not None) == present
    if op == "keywords":
        matcher = KeywordMatcher.build(value, options.get("mode", "any"))
        return lambda a: (t := _text(a)) is not None and bool(matcher.matches(t))
    raise ValueError(op)  # pragma: no cover - parse_condition checks the name first


def _compile_regex(pattern: str, ignore_case: bool) -> Any:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = 1 << 20
    options.case_sensitive = not ignore_case
    return re2.compile(pattern, options)


def _check_value(op: str, node: Mapping[str, Any], loc: Loc, problems: Problems) -> None:
    value = node.get("value")
    if op == "exists":
        if "value" in node and not isinstance(value, bool):
            problems.add((*loc, "value"), "exists takes true or false (or no value)")
        return
    if "value" not in node:
        problems.add((*loc, "value"), f"operator {op} needs a value", "missing")
        return
    if op in ("in", "not_in"):
        if not isinstance(value, list) or len(value) > MAX_LIST:
            problems.add((*loc, "value"), f"{op} takes a list of at most {MAX_LIST} values")
    elif op in ("gt", "gte", "lt", "lte"):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            problems.add((*loc, "value"), f"{op} compares with a number or a text")
    elif op == "regex":
        if not isinstance(value, str) or not value or len(value) > MAX_REGEX:
            problems.add((*loc, "value"), f"a regular expression of 1 to {MAX_REGEX} characters")
            return
        try:
            _compile_regex(value, False)
        except re2.error as exc:
            reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
            problems.add((*loc, "value"), f"invalid regular expression (RE2 syntax): {reason}")
    elif op == "keywords":
        if (
            not isinstance(value, list)
            or not 1 <= len(value) <= 200
            or not all(isinstance(k, str) and 0 < len(k.strip()) <= 100 for k in value)
        ):
            problems.add((*loc, "value"), "a list of 1 to 200 keywords of 1 to 100 characters")
        elif not any(normalise_text(k) for k in value):
            problems.add((*loc, "value"), "the keywords are empty after normalisation")
        if node.get("mode", "any") not in ("any", "all"):
            problems.add((*loc, "mode"), "mode is any or all")
    elif op == "contains" and isinstance(value, dict | list):
        problems.add((*loc, "value"), "contains looks for a text or a single value")


def _parse_leaf(node: Mapping[str, Any], loc: Loc, problems: Problems) -> Leaf | None:
    op = node.get("op")
    before = len(problems.items)
    if not isinstance(op, str) or op not in OPERATORS:
        known = ", ".join(OPERATORS)
        problems.add((*loc, "op"), f"unknown operator {op!r} (operators: {known})")
        return None
    allowed = {"path", "op", "value", *OPERATORS[op].options}
    for key in node:
        if key not in allowed:
            problems.add((*loc, str(key)), f"unknown field for operator {op}", "extra_forbidden")
    if "ignore_case" in node and not isinstance(node["ignore_case"], bool):
        problems.add((*loc, "ignore_case"), "true or false")
    try:
        path = compile_path(node.get("path"), CONDITION_ROOTS)  # type: ignore[arg-type]
    except PathError as exc:
        problems.add((*loc, "path"), str(exc))
        path = None
    _check_value(op, node, loc, problems)
    if path is None or len(problems.items) > before:
        return None
    return Leaf(dotted(loc), path, op, node.get("value"), _make_test(op, node.get("value"), node))


def parse_condition(
    node: Any, loc: Loc, problems: Problems, depth: int = 0, count: list[int] | None = None
) -> Condition | None:
    """Check ``node`` (JSON) and compile it; problems are added with their path."""
    count = count if count is not None else [0]
    count[0] += 1
    if count[0] > MAX_NODES:
        if count[0] == MAX_NODES + 1:
            problems.add(loc, f"a condition tree has at most {MAX_NODES} nodes")
        return None
    if depth > MAX_DEPTH:
        problems.add(loc, f"conditions nest at most {MAX_DEPTH} levels deep")
        return None
    if not isinstance(node, Mapping):
        problems.add(loc, "a condition is an object: {all: [...]}, {any: [...]}, {not: {...}} "
                     "or {path, op, value}", "type_error")  # fmt: skip
        return None
    groups = [k for k in ("all", "any", "not") if k in node]
    if not groups:
        return _parse_leaf(node, loc, problems)
    if len(groups) > 1 or len(node) > 1:
        problems.add(loc, "a group has exactly one key: all, any or not")
        return None
    kind = groups[0]
    if kind == "not":
        child = parse_condition(node["not"], (*loc, "not"), problems, depth + 1, count)
        return Group(dotted(loc), "not", (child,)) if child is not None else None
    items = node[kind]
    if not isinstance(items, list) or not items:
        problems.add((*loc, kind), f"{kind} takes a non-empty list of conditions")
        return None
    children = [
        parse_condition(item, (*loc, kind, i), problems, depth + 1, count)
        for i, item in enumerate(items)
    ]
    if any(child is None for child in children):
        return None
    return Group(dotted(loc), kind, tuple(c for c in children if c is not None))  # type: ignore[arg-type]


def roots_of(condition: Condition | None) -> frozenset[str]:
    """The context roots a condition reads (to know what the consumer can decide alone)."""
    if condition is None:
        return frozenset()
    if isinstance(condition, Leaf):
        return condition.roots
    out: frozenset[str] = frozenset()
    for child in condition.children:
        out |= roots_of(child)
    return out
