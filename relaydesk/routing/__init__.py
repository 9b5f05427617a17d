"""Routing and assignment: agent presence and capacity, team queues, round robin / least busy."""
