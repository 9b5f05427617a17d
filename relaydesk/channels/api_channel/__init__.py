"""The API channel: any app or platform backend (WeChat-style official accounts, a shop's
app chat, a social platform) posts its users' messages in and receives agents' replies on its
webhook, both signed like Standard Webhooks with the inbox's ``whsec_`` secret.

Importing this package registers the ``api`` inbox settings model (its signing secret kept
encrypted) and the delivery adapter; :data:`router` holds the endpoints (included under
``/api/v1``). See docs/channels.md ("API channel").
"""

from relaydesk.channels import register_settings_model
from relaydesk.channels.api_channel.adapter import ApiChannelAdapter, WebhookRefused, webhook_id
from relaydesk.channels.api_channel.api import router
from relaydesk.channels.api_channel.schemas import AppMessageIn, AppMessageOut
from relaydesk.channels.api_channel.settings import ApiChannelSettings

register_settings_model("api", ApiChannelSettings, secrets=("signing_secret",))

__all__ = [
    "ApiChannelAdapter",
    "ApiChannelSettings",
    "AppMessageIn",
    "AppMessageOut",
    "WebhookRefused",
    "router",
    "webhook_id",
]
