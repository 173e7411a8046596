"""Operator settings, from the environment (the chart sets them)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class OperatorConfig:
    image: str = field(
        default_factory=lambda: os.environ.get(
            "LOGISTICA_IMAGE", "ghcr.io/logistica/logistica:0.1.0"
        )
    )
    image_pull_policy: str = field(
        default_factory=lambda: os.environ.get("LOGISTICA_IMAGE_PULL_POLICY", "IfNotPresent")
    )
    solver_concurrency: int = field(
        default_factory=lambda: _int("LOGISTICA_SOLVER_CONCURRENCY", 2, minimum=1)
    )
    database_secret: str = field(
        default_factory=lambda: os.environ.get("LOGISTICA_DATABASE_SECRET", "logistica-database")
    )
    database_secret_key: str = field(
        default_factory=lambda: os.environ.get("LOGISTICA_DATABASE_SECRET_KEY", "url")
    )
    resync_seconds: int = field(default_factory=lambda: _int("LOGISTICA_RESYNC_SECONDS", 10, 1))
    ingest_port: int = 8080
    solver_service_account: str = "logistica-solver"
