"""Session-wide real servers: PostgreSQL and a Kubernetes control plane. Tiers by folder."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from logistica_workers.db.embedded import EmbeddedPostgres
from tests.platform.kube import ControlPlane
from tests.support.db import create_database


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = Path(str(item.fspath)).parent.name
        if tier in {"unit", "integration", "e2e"}:
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """One real PostgreSQL server for the whole session (fsync off: tests, not benchmarks)."""
    pg = EmbeddedPostgres(tmp_path_factory.mktemp("postgres"), fsync=False)
    pg.start()
    yield pg
    pg.stop(mode="immediate")


@pytest.fixture(scope="module")
def database_url(pg_server: EmbeddedPostgres, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database per test module."""
    name = re.sub(r"\W", "_", request.module.__name__.rsplit(".", 1)[-1]).lower()[:50]
    return asyncio.run(create_database(pg_server.dsn, name))


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = ControlPlane(tmp_path_factory.mktemp("kube"))
    try:
        cp.start()
        yield cp
    finally:
        cp.stop()
