"""Conversations: inboxes per channel, conversations, messages, notes, canned responses.

Channels (web chat, e-mail, SMS, voice, API) normalise what they receive into
:meth:`service.ConversationService.receive` and deliver agents' replies through the channel
adapter registry (:mod:`relaydesk.conversations.delivery`).
"""
