"""Imports every model module so ``Base.metadata`` is complete (Alembic, tests)."""

from relaydesk.apps import models as app_models
from relaydesk.audit import models as audit_models
from relaydesk.auth import models as auth_models
from relaydesk.automation import models as automation_models
from relaydesk.conversations import models as conversation_models
from relaydesk.customer360 import models as customer360_models
from relaydesk.customers import models as customer_models
from relaydesk.events import models as event_models
from relaydesk.integrations import models as integration_models
from relaydesk.jobs import models as job_models
from relaydesk.kit import idempotency as idempotency_models
from relaydesk.kit.db import Base
from relaydesk.notifications import models as notification_models
from relaydesk.routing import models as routing_models
from relaydesk.sagas import models as saga_models
from relaydesk.tenancy import models as tenancy_models
from relaydesk.webhooks import models as webhook_models

metadata = Base.metadata

__all__ = [
    "app_models",
    "audit_models",
    "auth_models",
    "automation_models",
    "conversation_models",
    "customer360_models",
    "customer_models",
    "event_models",
    "idempotency_models",
    "integration_models",
    "job_models",
    "metadata",
    "notification_models",
    "routing_models",
    "saga_models",
    "tenancy_models",
    "webhook_models",
]
