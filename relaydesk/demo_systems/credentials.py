"""The demo systems' published credentials (printed by ``make demo``, documented in
docs/demo-systems.md). They protect nothing but fictional data on loopback ports; Relaydesk's
demo connector instances are configured with them.
"""

from __future__ import annotations

__all__ = [
    "CRM_CLIENT_ID",
    "CRM_CLIENT_SECRET",
    "FINANCE_PASSWORD",
    "FINANCE_USERNAME",
    "LOGISTICS_API_KEY",
    "ORDERS_APP_KEY",
    "ORDERS_APP_SECRET",
    "TICKETS_API_TOKEN",
    "TICKETS_CALLBACK_SECRET",
]

ORDERS_APP_KEY = "relaydesk-demo"
ORDERS_APP_SECRET = "yq-orders-demo-secret-7f3a9c"  # noqa: S105 -- published demo credential
LOGISTICS_API_KEY = "yq-logistics-demo-key-2b8e"
CRM_CLIENT_ID = "relaydesk-demo"
CRM_CLIENT_SECRET = "yq-crm-demo-secret-5d1c"  # noqa: S105 -- published demo credential
TICKETS_API_TOKEN = "yq-tickets-demo-token-9a4f"  # noqa: S105 -- published demo credential
TICKETS_CALLBACK_SECRET = "yq-tickets-callback-secret-3e7b"  # noqa: S105 -- published demo credential
FINANCE_USERNAME = "relaydesk"
FINANCE_PASSWORD = "yq-finance-demo-4c2d"  # noqa: S105 -- published demo credential
