"""Accounts, roles and permissions, sessions, API keys."""
