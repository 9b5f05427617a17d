"""A rule's definition: checked once, with every problem named by its field path, then
compiled into a :class:`CompiledRule` (kept per version id: versions never change).

```json
{"trigger":    {"type": "event", "event": "order.shipped"},
 "conditions": {"all": [{"path": "event.payload.total", "op": "gte", "value": 1000}]},
 "lookups":    [{"name": "order", "instance": "orders", "action": "get_order",
                 "params": {"order_no": "{{ event.payload.order_no }}"}}],
 "actions":    [{"id": "tell", "type": "notify", "params": {"role": "supervisor", ...}}],
 "on_error":   "stop",
 "run_as":     ["connector_action:orders.get_order"]}
```
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cronsim import CronSim, CronSimError
from pydantic import ValidationError

from relaydesk.automation.actions import ActionType, action_types
from relaydesk.automation.conditions import Condition, parse_condition, roots_of
from relaydesk.automation.problems import Loc, Problems
from relaydesk.events.catalogue import CUSTOM_PREFIX, EVENT_NAME, catalogue
from relaydesk.integrations.templating import TemplateError, has_template, template_references

__all__ = ["CompiledRule", "OnError", "Step", "Trigger", "compile_definition", "compiled"]

IDENT = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
TEMPLATE_ROOTS = frozenset({"event", "customer", "lookup", "steps", "rule", "now", "execution"})
MAX_ACTIONS = 50
MAX_LOOKUPS = 10
MAX_ABSENCE_MINUTES = 60 * 24 * 90


@dataclass(frozen=True)
class Trigger:
    kind: Literal["event", "cron", "absence"]
    event: str | None = None
    end_event: str | None = None
    within: dt.timedelta | None = None
    cron: str | None = None
    timezone: str = "UTC"

    def next_tick(self, after: dt.datetime) -> dt.datetime:
        """The first cron tick strictly after ``after`` (UTC)."""
        assert self.cron is not None
        zone = zoneinfo.ZoneInfo(self.timezone)
        local = after.astimezone(zone).replace(second=0, microsecond=0)
        return next(CronSim(self.cron, local)).astimezone(dt.UTC)


@dataclass(frozen=True)
class OnError:
    policy: Literal["stop", "continue", "retry"] = "stop"
    max_attempts: int = 1
    then: Literal["stop", "continue"] = "stop"


@dataclass(frozen=True)
class Step:
    id: str
    type: str
    params: dict[str, Any]
    on_error: OnError | None = None


@dataclass(frozen=True)
class Lookup:
    name: str
    instance: str
    action: str
    params: dict[str, Any]


@dataclass(frozen=True)
class CompiledRule:
    definition: dict[str, Any]
    trigger: Trigger
    condition: Condition | None
    lookups: tuple[Lookup, ...]
    steps: tuple[Step, ...]
    on_error: OnError
    run_as: frozenset[str]
    #: the conditions read only the event: the consumer decides them alone
    event_only: bool

    def step_policy(self, index: int) -> OnError:
        return self.steps[index].on_error or self.on_error


# --- triggers ------------------------------------------------------------------------------


def event_pattern_problem(pattern: Any) -> str | None:
    """Why ``pattern`` is no event type or family a rule can listen to (None if it is one)."""
    if not isinstance(pattern, str) or not pattern:
        return "an event type is required (e.g. order.shipped, order.* or custom.my_event)"
    if pattern == "*":
        return None
    names = catalogue()
    if pattern.endswith(".*"):
        family = pattern[:-1]
        if family == CUSTOM_PREFIX or any(name.startswith(family) for name in names):
            return None
        if family.startswith(CUSTOM_PREFIX) and EVENT_NAME.match(pattern[:-2]):
            return None
        return f"no catalogued event starts with {family!r} (docs/events.md)"
    if pattern in names:
        return None
    if pattern.startswith(CUSTOM_PREFIX) and EVENT_NAME.match(pattern):
        return None
    return f"unknown event type {pattern!r}: use a catalogued type (docs/events.md) or custom.*"


def _trigger(raw: Any, problems: Problems) -> Trigger | None:
    loc: Loc = ("trigger",)
    if not isinstance(raw, Mapping):
        problems.add(loc, "the trigger is an object with a type: event, cron or absence",
                     "missing" if raw is None else "type_error")  # fmt: skip
        return None
    kind = raw.get("type")
    fields = {"event": {"type", "event"}, "cron": {"type", "cron", "timezone"},
              "absence": {"type", "event", "not_followed_by", "within_minutes"}}  # fmt: skip
    if kind not in fields:
        problems.add((*loc, "type"), f"unknown trigger type {kind!r} (event, cron or absence)")
        return None
    before = len(problems.items)
    for key in raw:
        if key not in fields[kind]:
            problems.add((*loc, str(key)), f"unknown field for a {kind} trigger", "extra_forbidden")
    if kind == "cron":
        expression, tz = raw.get("cron"), raw.get("timezone", "UTC")
        try:
            if not isinstance(expression, str) or len(expression) > 100:
                raise CronSimError("a cron expression of five fields is required")
            CronSim(expression, dt.datetime(2026, 1, 1))
        except CronSimError as exc:
            problems.add((*loc, "cron"), f"invalid cron expression: {exc}")
        try:
            zoneinfo.ZoneInfo(str(tz))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            problems.add((*loc, "timezone"), f"unknown time zone {tz!r} (e.g. Asia/Shanghai)")
        if len(problems.items) > before:
            return None
        return Trigger("cron", cron=expression, timezone=str(tz))
    event = raw.get("event")
    if (why := event_pattern_problem(event)) is not None:
        problems.add((*loc, "event"), why)
    if kind == "event":
        return Trigger("event", event=event) if len(problems.items) == before else None
    end = raw.get("not_followed_by")
    if (why := event_pattern_problem(end)) is not None:
        problems.add((*loc, "not_followed_by"), why)
    minutes = raw.get("within_minutes")
    if (not isinstance(minutes, int | float) or isinstance(minutes, bool)
            or not 0 < minutes <= MAX_ABSENCE_MINUTES):  # fmt: skip
        problems.add(
            (*loc, "within_minutes"),
            f"minutes, more than 0 and at most {MAX_ABSENCE_MINUTES} (90 days)",
        )
        return None
    if len(problems.items) > before:
        return None
    return Trigger("absence", event=event, end_event=end, within=dt.timedelta(minutes=minutes))


# --- policies, lookups, actions -------------------------------------------------------------


def _on_error(raw: Any, loc: Loc, problems: Problems) -> OnError | None:
    if raw in ("stop", "continue"):
        return OnError(raw)
    if isinstance(raw, Mapping) and raw.get("policy") in ("stop", "continue", "retry"):
        extra = set(raw) - {"policy", "max_attempts", "then"}
        for key in sorted(extra):
            problems.add(
                (*loc, key), "unknown field (policy, max_attempts, then)", "extra_forbidden"
            )
        attempts = raw.get("max_attempts", 3 if raw["policy"] == "retry" else 1)
        if not isinstance(attempts, int) or isinstance(attempts, bool) or not 1 <= attempts <= 10:
            problems.add((*loc, "max_attempts"), "from 1 to 10")
            return None
        then = raw.get("then", "stop")
        if then not in ("stop", "continue"):
            problems.add((*loc, "then"), "after the last attempt: stop or continue")
            return None
        return None if extra else OnError(raw["policy"], attempts, then)
    problems.add(loc, 'stop, continue, or {"policy": "retry", "max_attempts": 3, '
                 '"then": "stop"}')  # fmt: skip
    return None


def _templated_at(params: Any, loc: tuple[Any, ...]) -> bool:
    value = params
    for part in loc:
        if isinstance(value, str):
            break
        if (isinstance(value, Mapping) and part in value) or (
            isinstance(value, list) and isinstance(part, int) and part < len(value)
        ):
            value = value[part]
        else:
            return False
    return isinstance(value, str) and has_template(value)


def _check_templates(
    params: Any, loc: Loc, problems: Problems, allowed: frozenset[str], earlier: set[str]
) -> None:
    try:
        references = template_references(params)
    except TemplateError as exc:
        problems.add(loc, str(exc))
        return
    for ref in sorted(references):
        root = ref.split(".", 1)[0]
        if root not in allowed:
            problems.add(loc, f"templates may read {', '.join(sorted(allowed))}; not {root!r}")
        elif root == "steps":
            step = ref.split(".")[1] if "." in ref else ""
            if step not in earlier:
                problems.add(loc, f"{{{{ {ref} }}}} names no earlier action (ids: "
                             f"{', '.join(sorted(earlier)) or 'none'})")  # fmt: skip


def check_params(kind: ActionType, params: Any, loc: Loc, problems: Problems) -> None:
    """Validate params against the action's model; a templated value is checked at run time."""
    try:
        kind.params_model.model_validate(params)
    except ValidationError as exc:
        for err in exc.errors():
            if err["type"] != "missing" and _templated_at(params, tuple(err["loc"])):
                continue
            problems.add((*loc, *err["loc"]), err["msg"], err["type"])


def _lookups(raw: Any, problems: Problems) -> list[Lookup]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_LOOKUPS:
        problems.add(("lookups",), f"a list of at most {MAX_LOOKUPS} lookups")
        return []
    out, names = [], set()
    for i, item in enumerate(raw):
        loc: Loc = ("lookups", i)
        if not isinstance(item, Mapping):
            problems.add(loc, "a lookup is {name, instance, action, params}", "type_error")
            continue
        for key in sorted(set(item) - {"name", "instance", "action", "params"}):
            problems.add((*loc, key), "unknown field", "extra_forbidden")
        name = item.get("name")
        if not isinstance(name, str) or not IDENT.match(name) or name in names:
            problems.add((*loc, "name"), "a unique name: lower-case letters, digits, _")
        for key in ("instance", "action"):
            if not isinstance(item.get(key), str) or not 0 < len(item[key]) <= 100:
                problems.add((*loc, key), f"the connector {key}'s name", "missing")
        params = item.get("params", {})
        if not isinstance(params, Mapping):
            problems.add((*loc, "params"), "an object", "type_error")
            continue
        _check_templates(params, (*loc, "params"), problems, frozenset({"event", "customer"}),
                         set())  # fmt: skip
        if isinstance(name, str):
            names.add(name)
            out.append(Lookup(name, str(item.get("instance")), str(item.get("action")),
                              dict(params)))  # fmt: skip
    return out


def _steps(raw: Any, problems: Problems) -> list[Step]:
    if not isinstance(raw, list) or not 0 < len(raw) <= MAX_ACTIONS:
        problems.add(("actions",), f"a list of 1 to {MAX_ACTIONS} actions",
                     "missing" if raw is None else "value_error")  # fmt: skip
        return []
    known = action_types()
    out: list[Step] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        loc: Loc = ("actions", i)
        if not isinstance(item, Mapping):
            problems.add(loc, "an action is {id, type, params, on_error}", "type_error")
            continue
        for key in sorted(set(item) - {"id", "type", "params", "on_error"}):
            problems.add((*loc, key), "unknown field", "extra_forbidden")
        step_id = item.get("id", f"step{i + 1}")
        if not isinstance(step_id, str) or not IDENT.match(step_id) or step_id in seen:
            problems.add((*loc, "id"), "a unique id: lower-case letters, digits, _ (max 40)")
            step_id = f"step{i + 1}"
        kind = known.get(item.get("type"))  # type: ignore[arg-type]
        if kind is None:
            problems.add((*loc, "type"), f"unknown action type {item.get('type')!r} "
                         f"(types: {', '.join(known)})")  # fmt: skip
        params = item.get("params", {})
        if not isinstance(params, Mapping):
            problems.add((*loc, "params"), "an object", "type_error")
            params = {}
        elif kind is not None:
            check_params(kind, params, (*loc, "params"), problems)
        _check_templates(params, (*loc, "params"), problems, TEMPLATE_ROOTS, seen)
        policy = _on_error(item["on_error"], (*loc, "on_error"), problems) \
            if "on_error" in item else None  # fmt: skip
        seen.add(step_id)
        out.append(Step(step_id, str(item.get("type")), dict(params), policy))
    return out


# --- the whole definition ------------------------------------------------------------------

DEFINITION_KEYS = ("trigger", "conditions", "lookups", "actions", "on_error", "run_as")


def compile_definition(raw: Mapping[str, Any], prefix: Loc = ()) -> CompiledRule:
    """Check ``raw`` (the definition keys of a rule body); 422 naming every problem."""
    problems = Problems(prefix)
    trigger = _trigger(raw.get("trigger"), problems)
    condition = None
    if raw.get("conditions") is not None:
        condition = parse_condition(raw["conditions"], ("conditions",), problems)
    lookups = _lookups(raw.get("lookups"), problems)
    steps = _steps(raw.get("actions"), problems)
    on_error_raw = raw.get("on_error") if raw.get("on_error") is not None else "stop"
    on_error = _on_error(on_error_raw, ("on_error",), problems)
    run_as = raw.get("run_as") if raw.get("run_as") is not None else []
    if not isinstance(run_as, list) or not all(isinstance(p, str) for p in run_as):
        problems.add(("run_as",), "a list of permission names")
        run_as = []
    if condition is not None and "lookup" in roots_of(condition) and not lookups:
        problems.add(("conditions",), "conditions read lookup.* but the rule declares no lookups")
    problems.raise_if_any()
    assert trigger is not None and on_error is not None
    definition = {
        "trigger": dict(raw["trigger"]),
        "conditions": raw.get("conditions"),
        "lookups": [dict(item) for item in raw.get("lookups") or []],
        "actions": [
            {**dict(item), "id": step.id} for item, step in zip(raw["actions"], steps, strict=True)
        ],
        "on_error": on_error_raw,
        "run_as": sorted(set(run_as)),
    }
    return CompiledRule(
        definition=definition, trigger=trigger, condition=condition, lookups=tuple(lookups),
        steps=tuple(steps), on_error=on_error, run_as=frozenset(run_as),
        event_only=roots_of(condition) <= {"event"},
    )  # fmt: skip


_CACHE: OrderedDict[Any, CompiledRule] = OrderedDict()
_CACHE_SIZE = 10_000


def compiled(version_id: Any, definition: Mapping[str, Any]) -> CompiledRule:
    """The compiled form of a stored version (versions are immutable, so it is cached)."""
    hit = _CACHE.get(version_id)
    if hit is not None:
        _CACHE.move_to_end(version_id)
        return hit
    rule = compile_definition(definition)
    _CACHE[version_id] = rule
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return rule


def is_compiled(version_id: Any) -> bool:
    return version_id in _CACHE
