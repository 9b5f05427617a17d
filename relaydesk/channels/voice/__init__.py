"""The voice channel: a cloud call centre's calls become call records on the timeline.

The call centre pushes signed call events (ringing, answered, ended) to
``/api/v1/channels/voice/{inbox_id}/events``; each call is a conversation (or joins the one it
was dialled from) with one **call record** message (content type ``call``) updated as events
arrive, and ``call.ringing`` / ``call.answered`` / ``call.ended`` events. When a call rings,
the agent at the seat gets a **screen pop** with the caller's customer (``voice.screenpop``
consumer). **Click-to-call** (``POST /api/v1/conversations/{id}/call``) runs the
``callcenter`` connector's ``dial`` action through the integration hub.

Importing this package registers the ``voice`` inbox settings model (its AppSecret kept
encrypted), the call events and the screen-pop consumer; :data:`router` holds the endpoints
(included under ``/api/v1``). See docs/channels.md ("Voice / call centre").
"""

from relaydesk.channels import register_settings_model
from relaydesk.channels.voice import events as events
from relaydesk.channels.voice.api import CallCenterAck, router
from relaydesk.channels.voice.calls import VOICE, apply_event
from relaydesk.channels.voice.dial import DialIn, DialOut, click_to_call, dialable
from relaydesk.channels.voice.screenpop import FRAME_TYPE, SCREENPOP
from relaydesk.channels.voice.settings import SIGNING, VoiceSettings

register_settings_model(
    "voice",
    VoiceSettings,
    secrets=("app_secret",),
    required_secrets=("app_secret",),
)

__all__ = [
    "FRAME_TYPE",
    "SCREENPOP",
    "SIGNING",
    "VOICE",
    "CallCenterAck",
    "DialIn",
    "DialOut",
    "VoiceSettings",
    "apply_event",
    "click_to_call",
    "dialable",
    "events",
    "router",
]
