"""Notification events; ordered per user (key ``user_id``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from relaydesk.events.catalogue import EventSpec, register_event


class NotificationCreated(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notification_id: str
    #: the one user it is for (the realtime push goes to that user only)
    user_id: str
    title: str
    body: str = ""
    link: str | None = None
    #: what sent it: {"kind": "rule", "rule_id": ...}, {"kind": "webhook", ...}, ...
    source: dict[str, Any] = Field(default_factory=dict)


register_event(EventSpec(
    "notification.created", NotificationCreated,
    "A user was sent a notification (by a rule, a failing webhook, a test...); one event per "
    "recipient.", key="user_id", pii=("title", "body"), source="notifications",
    examples=({
        "notification_id": "01935f6e-8c1a-7d3e-9b40-6f2a1c0d5e71",
        "user_id": "01935f60-1b2c-7a3d-8e4f-5a6b7c8d9e01",
        "title": "VIP 客户来电未接", "body": "请回电，订单 YQ20261121001",
        "link": "/conversations/01935f6e-0000-7000-8000-000000000001",
        "source": {"kind": "rule", "rule_id": "01935f50-aaaa-7bbb-8ccc-dddddddddddd"},
    },),
))  # fmt: skip
