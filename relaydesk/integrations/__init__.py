"""The integration hub: connector specs, runtime, auth, resilience and callbacks."""
