"""Per-user notifications: rules, webhooks and sagas tell people something needs them."""

from relaydesk.notifications.service import notify

__all__ = ["notify"]
