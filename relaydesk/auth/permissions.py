"""The permission registry and the built-in roles.

Permissions are dotted names. Domains register theirs at import time with
:func:`register_permission`; connector actions get ``connector_action:<connector>.<action>``
names registered by the integration hub. ``*`` (owner only) grants everything.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

WILDCARD = "*"
CONNECTOR_ACTION_PREFIX = "connector_action:"
_ACTION_RE = re.compile(r"^connector_action:[a-z0-9_\-]+\.[a-z0-9_\-]+$")

PERMISSIONS: dict[str, str] = {
    "tenant.read": "See the organisation's settings",
    "tenant.manage": "Change the organisation's settings, including the IP allow-list",
    "users.read": "See users",
    "users.manage": "Create, change, deactivate and unlock users",
    "teams.read": "See departments and teams",
    "teams.manage": "Create and change departments and teams",
    "roles.read": "See roles and their permissions",
    "roles.manage": "Create and change roles and assign them",
    "apikeys.manage": "Create and revoke API keys",
    "audit.read": "Read and verify the audit log",
    "customers.read": "See customers (personal data masked)",
    "customers.write": "Create and change customers",
    "customers.pii.view": "See customers' personal data unmasked everywhere",
    "customers.pii.reveal": "Reveal one masked field of a customer, audited",
    "customers.merge": "Merge customers and split identities off a customer",
    "conversations.read": "See conversations",
    "conversations.write": "Reply to and change conversations",
    "inboxes.manage": "Create and configure inboxes and their channels",
    "canned_responses.manage": "Create and change canned responses",
    "connectors.read": "See connectors and their health",
    "connectors.manage": "Create and configure connectors",
    "events.read": "See the event log, processed events and dead letters",
    "events.manage": "Replay events and dead letters",
    "rules.read": "See automation rules and their executions",
    "rules.manage": "Create, change, enable and dry-run automation rules",
    "webhooks.read": "See webhook endpoints, messages and delivery attempts",
    "webhooks.manage": "Create and change webhook endpoints; replay and recover messages",
    "webhooks.pii": "Let a webhook endpoint receive personal data unmasked (audited)",
    "sagas.read": "See multi-system actions (sagas) and their steps",
    "sagas.run": "Start multi-system actions (sagas) such as a refund",
    "apps.manage": "Register, change and remove embedded apps",
    "apps.read": "See embedded apps and open them with a signed context token",
}


#: per-tenant permission sources (e.g. the connector actions of the tenant's instances):
#: ``async (session, principal) -> {name: description}``; registered by the owning domain
TenantPermissionSource = Callable[[Any, Any], Awaitable[dict[str, str]]]
TENANT_SOURCES: list[TenantPermissionSource] = []


def register_tenant_source(source: TenantPermissionSource) -> TenantPermissionSource:
    TENANT_SOURCES.append(source)
    return source


def register_permission(name: str, description: str) -> None:
    if not (re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+", name) or _ACTION_RE.match(name)):
        raise ValueError(f"invalid permission name {name!r}")
    PERMISSIONS.setdefault(name, description)


def is_known(name: str) -> bool:
    return name == WILDCARD or name in PERMISSIONS or bool(_ACTION_RE.match(name))


def grants(held: frozenset[str], wanted: str) -> bool:
    return WILDCARD in held or wanted in held


def _all_but(*excluded: str) -> list[str]:
    return sorted(p for p in PERMISSIONS if p not in excluded)


def builtin_roles() -> dict[str, tuple[str, list[str]]]:
    """name -> (description, permissions), computed so late registrations are included."""
    reads = sorted(p for p in PERMISSIONS if p.endswith(".read"))
    return {
        "owner": ("Everything, including clear personal data", [WILDCARD]),
        "admin": (
            "Administers the organisation; sees personal data masked",
            _all_but("customers.pii.view", "webhooks.pii"),
        ),
        "supervisor": (
            "Leads agents: conversations, customers, audit, reveal on demand",
            sorted(
                {
                    "users.read",
                    "teams.read",
                    "roles.read",
                    "audit.read",
                    "customers.read",
                    "customers.write",
                    "customers.pii.reveal",
                    "customers.merge",
                    "apps.read",
                    "conversations.read",
                    "conversations.write",
                    "connectors.read",
                    "events.read",
                    "canned_responses.manage",
                    "rules.read",
                    "sagas.read",
                    "sagas.run",
                }
            ),
        ),
        "agent": (
            "Answers customers; personal data masked",
            sorted(
                {
                    "users.read",
                    "teams.read",
                    "apps.read",
                    "customers.read",
                    "customers.write",
                    "conversations.read",
                    "conversations.write",
                    "connectors.read",
                }
            ),
        ),
        "read-only": (
            "Reads everything except personal data and the audit log",
            [p for p in reads if p != "audit.read"],
        ),
    }
