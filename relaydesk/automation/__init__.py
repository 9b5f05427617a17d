"""Rules and automation: triggers (events, cron, absence), condition trees, ordered actions.

Other domains add actions through the registry (:func:`register_action`); the rules consumer
(:mod:`relaydesk.automation.consumers`) turns committed events into rule jobs
(:mod:`relaydesk.automation.tasks`). See docs/automation.md.
"""

from relaydesk.automation.actions import (
    ActionContext,
    ActionFailed,
    ActionType,
    Wait,
    action_type,
    action_types,
    register_action,
)

__all__ = [
    "ActionContext",
    "ActionFailed",
    "ActionType",
    "Wait",
    "action_type",
    "action_types",
    "register_action",
]
