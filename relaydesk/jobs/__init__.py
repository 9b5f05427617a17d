"""Durable background jobs: enqueue in a transaction, run by any worker, at least once."""

from relaydesk.jobs.queue import (
    JobContext,
    RetryLater,
    enqueue,
    job_handler,
    registered_kinds,
)
from relaydesk.jobs.runner import JobRunner

__all__ = ["JobContext", "JobRunner", "RetryLater", "enqueue", "job_handler", "registered_kinds"]
