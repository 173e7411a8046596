"""RoutingJob -> a solver Job: one module per concern, each registering its kopf handlers.

- ``accept``: validate the spec and resolve the problem, once per generation.
- ``admission``: the queue (oldest first, ``LOGISTICA_SOLVER_CONCURRENCY`` at once); one
  operator-wide loop woken by events, reading the in-memory RoutingJob index.
- ``jobs``: follow the owned batch/v1 Jobs through their watch events to Succeeded or Failed.
- ``suspend``: ``spec.suspend`` stops a running solve (its partial result kept) and re-queues.
- ``ttl``: delete a finished RoutingJob ``ttlSecondsAfterFinished`` after completion.

The status they write is ``logistica_workers.api.RoutingJobStatus``, shared with the solver.
"""

from logistica_operator.routing_jobs import accept, admission, jobs, suspend, ttl

__all__ = ["accept", "admission", "jobs", "suspend", "ttl"]
