"""Outbound webhooks following the Standard Webhooks specification (docs/webhooks.md).

Per-tenant endpoints subscribe to events; the bus consumer (:mod:`.consumers`) turns each
event into a message (personal data masked by default) and one delivery per matching
endpoint; the attempt job (:mod:`.delivery`) signs and POSTs it through the SSRF-safe client
with retries, Retry-After, a circuit breaker, a rate limit and auto-disable.
"""
