"""Relaydesk: an omnichannel customer-service platform built around integration."""

__version__ = "0.1.0"
__all__ = ["__version__"]
