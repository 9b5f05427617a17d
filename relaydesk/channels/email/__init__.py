"""The e-mail channel: a mailbox read over IMAP, agents' replies sent over SMTP.

Importing this package registers the ``email`` inbox settings model (with its secrets), the
delivery adapter and the ``email.poll`` job. See docs/channels.md ("E-mail").
"""

from relaydesk.channels import register_settings_model
from relaydesk.channels.email.adapter import EmailAdapter
from relaydesk.channels.email.poller import (
    POLL_JOB,
    PollResult,
    ensure_polling,
    on_inbox_saved,
    poll_inbox,
)
from relaydesk.channels.email.runtime import EmailRuntime, bind_email_runtime, email_runtime
from relaydesk.channels.email.settings import EmailSettings
from relaydesk.channels.email.storage import LocalStorage

register_settings_model(
    "email",
    EmailSettings,
    secrets=("imap.password", "smtp.password"),
    required_secrets=("imap.password",),
    runtime_keys=("state",),
    on_saved=on_inbox_saved,
    optional=True,  # an inbox may be created first and configured later
)

__all__ = [
    "POLL_JOB",
    "EmailAdapter",
    "EmailRuntime",
    "EmailSettings",
    "LocalStorage",
    "PollResult",
    "bind_email_runtime",
    "email_runtime",
    "ensure_polling",
    "poll_inbox",
]
