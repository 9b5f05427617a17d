"""The SMS channel: customers text a number at an HTTP SMS gateway; agents' replies go back
through it, and the gateway's delivery reports mark them delivered or failed.

Importing this package registers the ``sms`` inbox settings model (its AccessKeySecret kept
encrypted) and the delivery adapter; :data:`router` holds the gateway's callback endpoints
(included under ``/api/v1``). See docs/channels.md ("SMS").
"""

from relaydesk.channels import register_settings_model
from relaydesk.channels.sms.adapter import SmsAdapter, SmsRefused
from relaydesk.channels.sms.api import GatewayAck, router
from relaydesk.channels.sms.runtime import bind_keyring, keyring_for
from relaydesk.channels.sms.segments import Segmentation, TextTooLong, check_length, segment
from relaydesk.channels.sms.settings import SIGNING, SmsSettings

register_settings_model(
    "sms",
    SmsSettings,
    secrets=("access_key_secret",),
    required_secrets=("access_key_secret",),
)

__all__ = [
    "SIGNING",
    "GatewayAck",
    "Segmentation",
    "SmsAdapter",
    "SmsRefused",
    "SmsSettings",
    "TextTooLong",
    "bind_keyring",
    "check_length",
    "keyring_for",
    "router",
    "segment",
]
