"""Session-wide real servers: PostgreSQL and a real single-node Kubernetes cluster (control
plane + kubelet, containerd, kube-proxy in the node's own namespaces). Tiers by folder."""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from logistica_workers.db.embedded import EmbeddedPostgres
from tests.platform.kube import ControlPlane
from tests.platform.netns import NODE_NETWORKS
from tests.platform.node import Node, images_dir
from tests.support.db import create_database

TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.fspath)).resolve()
        tier = path.relative_to(TESTS).parts[0] if path.is_relative_to(TESTS) else ""
        if tier in {"unit", "integration", "e2e"}:
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedPostgres]:
    """One real PostgreSQL server for the whole session (fsync off: tests, not benchmarks).
    It also listens where the test node's pods reach it: the host end of the node's veth.
    Its directory is not under pytest's basetemp: a concurrent pytest session re-chmods
    /tmp/pytest-of-root to 0700, and the server (user postgres) then loses its data dir."""
    root = Path(tempfile.mkdtemp(prefix="logistica-pg-"))
    pg = EmbeddedPostgres(
        root,
        fsync=False,
        listen_addresses="*",
        trusted_networks=(NODE_NETWORKS,),
    )
    try:
        pg.start()
        yield pg
    finally:
        pg.stop(mode="immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def database_url(pg_server: EmbeddedPostgres, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database per test module."""
    name = re.sub(r"\W", "_", request.module.__name__.rsplit(".", 1)[-1]).lower()[:50]
    return asyncio.run(create_database(pg_server.dsn, name))


@pytest.fixture(scope="module")
def pod_database_url(database_url: str, node: Node) -> str:
    """``database_url`` as pods on the node reach it."""
    return database_url.replace("@127.0.0.1:", f"@{node.host_ip}:")


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """The session's node; stopped (and checked clean) even when tests fail."""
    n = Node(tmp_path_factory.mktemp("node"), images_dir())
    try:
        n.start()
        yield n
    finally:
        n.stop()


@pytest.fixture(scope="session")
def control_plane(node: Node) -> ControlPlane:
    """The node's control plane: one cluster per session."""
    return node.control_plane
