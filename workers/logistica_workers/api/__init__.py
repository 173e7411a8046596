"""The public data model, shared by the workers and the operator.

These models agree with the CRD schemas in ``crds/`` (a test feeds the same fixtures to both).
"""

from logistica_workers.api.common import API_GROUP, API_VERSION, ValidationFailure, describe_errors
from logistica_workers.api.conditions import Condition, WebhookSourceCondition
from logistica_workers.api.routing import (
    Break,
    Change,
    Courier,
    Location,
    Matrix,
    MatrixFrom,
    PreviousPlan,
    Problem,
    ProblemFrom,
    RouteResult,
    RoutingJobSpec,
    RoutingOptions,
    Shift,
    Solution,
    SolverInfo,
    Stop,
    TakenBreak,
    TimeWindow,
    UnassignedReason,
    Visit,
)
from logistica_workers.api.routing_job_status import (
    SOLVER_EXIT_INTERRUPTED,
    Phase,
    Reason,
    RoutingJobCondition,
    RoutingJobStatus,
    RoutingProgress,
)
from logistica_workers.api.webhook_source import (
    HmacSpec,
    IdempotencyKey,
    Provider,
    SecretRef,
    WebhookSourceSpec,
)

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "SOLVER_EXIT_INTERRUPTED",
    "Break",
    "Change",
    "Condition",
    "Courier",
    "HmacSpec",
    "IdempotencyKey",
    "Location",
    "Matrix",
    "MatrixFrom",
    "Phase",
    "PreviousPlan",
    "Problem",
    "ProblemFrom",
    "Provider",
    "Reason",
    "RouteResult",
    "RoutingJobCondition",
    "RoutingJobSpec",
    "RoutingJobStatus",
    "RoutingOptions",
    "RoutingProgress",
    "SecretRef",
    "Shift",
    "Solution",
    "SolverInfo",
    "Stop",
    "TakenBreak",
    "TimeWindow",
    "UnassignedReason",
    "ValidationFailure",
    "Visit",
    "WebhookSourceCondition",
    "WebhookSourceSpec",
    "describe_errors",
]
