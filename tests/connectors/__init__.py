"""Tests of the prebuilt connectors (relaydesk/connectors/<system>/).

A package, so that ``test_orders`` here and ``tests/demo_systems/test_orders.py`` can share a
basename (pytest then imports these as ``connectors.test_orders``).
"""
