"""The event backbone: catalogue, transactional outbox, relay, bus and consumers.

A state change and its event are written in one transaction (:func:`emit`); the relay
publishes committed events to the bus; consumers (rules, webhooks, sagas, routing) receive
each event at least once and record it as processed in the same transaction as their own
effects, so none is applied twice. Taps (the realtime push) need no database: the relay hands
them each batch before the consumers, outside any transaction. See docs/events.md.
"""

from relaydesk.events.catalogue import EventSpec, catalogue, event_spec, register_event
from relaydesk.events.envelope import Envelope
from relaydesk.events.outbox import emit

__all__ = ["Envelope", "EventSpec", "catalogue", "emit", "event_spec", "register_event"]
