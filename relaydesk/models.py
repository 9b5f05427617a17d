"""Imports every model module so ``Base.metadata`` is complete (Alembic, tests)."""

from relaydesk.audit import models as audit_models
from relaydesk.auth import models as auth_models
from relaydesk.customers import models as customer_models
from relaydesk.integrations import models as integration_models
from relaydesk.kit import idempotency as idempotency_models
from relaydesk.kit.db import Base
from relaydesk.tenancy import models as tenancy_models

metadata = Base.metadata

__all__ = [
    "audit_models",
    "auth_models",
    "customer_models",
    "idempotency_models",
    "integration_models",
    "metadata",
    "tenancy_models",
]
