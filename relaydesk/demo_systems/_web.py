"""Small helpers shared by the demo systems' apps (not part of any system's API)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

__all__ = ["SHANGHAI", "BodyError", "money", "now_local", "read_fields"]

#: China Standard Time (no daylight saving): these systems store wall-clock times without zone
SHANGHAI = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


def now_local() -> dt.datetime:
    """Current Asia/Shanghai wall-clock time, naive, to the second."""
    return dt.datetime.now(SHANGHAI).replace(tzinfo=None, microsecond=0)


def money(value: Decimal) -> str:
    return f"{value:.2f}"


class BodyError(ValueError):
    """The request body is not what the endpoint accepts."""


async def read_fields(request: Request, *, form: bool = True) -> dict[str, Any]:
    """A JSON object body, or (when ``form``) an ``application/x-www-form-urlencoded`` one."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if form and content_type == "application/x-www-form-urlencoded":
        try:
            return dict(parse_qsl(raw.decode(), keep_blank_values=True))
        except UnicodeDecodeError:
            raise BodyError("form body is not UTF-8") from None
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BodyError("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BodyError("body must be a JSON object")
    return data
