"""Sagas: multi-system write-backs with durable state and compensations (docs/sagas.md)."""
