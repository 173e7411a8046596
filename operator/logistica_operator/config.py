"""Operator settings, from the environment (the chart sets them), read through the one
typed reader so a bad value stops ``logistica operator`` with exit 2 naming it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from logistica_workers.runtime.settings import (
    PULL_POLICIES,
    env_choice,
    env_int,
    env_port,
    env_str,
)


def otel_environment() -> tuple[tuple[str, str], ...]:
    """The ``OTEL_*`` variables of this process except ``OTEL_SERVICE_NAME``, sorted."""
    return tuple(
        sorted(
            (k, v)
            for k, v in os.environ.items()
            if k.startswith("OTEL_") and k != "OTEL_SERVICE_NAME" and v.strip()
        )
    )


@dataclass(frozen=True)
class OperatorConfig:
    image: str = field(
        default_factory=lambda: env_str("LOGISTICA_IMAGE", "ghcr.io/logistica/logistica:0.1.0")
    )
    image_pull_policy: str = field(
        default_factory=lambda: env_choice(
            "LOGISTICA_IMAGE_PULL_POLICY", "IfNotPresent", PULL_POLICIES
        )
    )
    solver_concurrency: int = field(
        default_factory=lambda: env_int("LOGISTICA_SOLVER_CONCURRENCY", 2, low=1, high=10_000)
    )
    database_secret: str = field(
        default_factory=lambda: env_str("LOGISTICA_DATABASE_SECRET", "logistica-database")
    )
    database_secret_key: str = field(
        default_factory=lambda: env_str("LOGISTICA_DATABASE_SECRET_KEY", "url")
    )
    resync_seconds: int = field(
        default_factory=lambda: env_int("LOGISTICA_RESYNC_SECONDS", 10, low=1, high=86_400)
    )
    ingest_port: int = 8080
    solver_service_account: str = "logistica-solver"
    # the operator's own OpenTelemetry settings, handed to the workers and solver Jobs it
    # creates so their spans reach the same collector (each keeps its own service name)
    telemetry_env: tuple[tuple[str, str], ...] = field(default_factory=otel_environment)


@dataclass(frozen=True)
class RunSettings:
    """How the operator process itself runs: namespaces, peering, health port."""

    watch_namespaces: list[str] = field(
        default_factory=lambda: [
            n.strip() for n in env_str("LOGISTICA_WATCH_NAMESPACES", "").split(",") if n.strip()
        ]
    )
    peering: str = field(default_factory=lambda: env_str("LOGISTICA_PEERING", "logistica"))
    peering_priority: int = field(
        default_factory=lambda: env_int(
            "LOGISTICA_PEERING_PRIORITY", 100, low=-(2**31), high=2**31 - 1
        )
    )
    health_port: int = field(
        default_factory=lambda: env_port("LOGISTICA_OPERATOR_HEALTH_PORT", 8090)
    )
