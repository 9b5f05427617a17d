"""Collecting definition problems with their field paths, then one 422 naming them all."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from relaydesk.errors import ValidationFailed

__all__ = ["Loc", "Problems", "dotted"]

Loc = tuple[str | int, ...]


def dotted(loc: Sequence[str | int]) -> str:
    """``("conditions", "all", 2, "op")`` → ``conditions.all[2].op``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass
class Problems:
    """Problems found while checking a definition; ``prefix`` is prepended to every loc."""

    prefix: Loc = ()
    items: list[dict[str, object]] = field(default_factory=list)

    def add(self, loc: Loc, msg: str, kind: str = "value_error") -> None:
        self.items.append({"loc": [*self.prefix, *loc], "msg": msg, "type": kind})

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        first = self.items[0]
        loc = [p for p in first["loc"] if p != "body"]  # type: ignore[attr-defined]
        more = f" (and {len(self.items) - 1} more)" if len(self.items) > 1 else ""
        raise ValidationFailed(f"{dotted(loc)}: {first['msg']}{more}", details=list(self.items))
