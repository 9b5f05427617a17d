"""Durable background jobs: enqueue in a transaction, run by any worker, at least once."""

from relaydesk.jobs.queue import (
    JobContext,
    RetryLater,
    enqueue,
    enqueue_many,
    job_handler,
    job_row,
    registered_kinds,
)
from relaydesk.jobs.runner import JobRunner

__all__ = [
    "JobContext",
    "JobRunner",
    "RetryLater",
    "enqueue",
    "enqueue_many",
    "job_handler",
    "job_row",
    "registered_kinds",
]
