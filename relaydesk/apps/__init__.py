"""Embedded apps: pages of the organisation's existing systems (ERP order screen, CRM card...)
shown in an iframe beside the customer or the conversation. Each page gets a signed,
short-lived context token (ES256 JWT) that it verifies with the published JWKS
(``GET /api/v1/apps/jwks.json``). See docs/embedded-apps.md.

Importing the package registers its permissions (``apps.manage``, ``apps.read``).
"""

from relaydesk.auth.permissions import register_permission

register_permission("apps.manage", "Register, change and remove embedded apps")
register_permission("apps.read", "See embedded apps and open them with a signed context token")
