"""The asyncpg pool, created in the background so a worker starts (unready) without a database."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from logistica_workers.db.migrate import LATEST_VERSION, current_version

log = logging.getLogger("logistica.db")


class _StatelessConnection(asyncpg.Connection):  # type: ignore[misc]
    """The workers never set session state (no SET, LISTEN, advisory locks or open cursors on
    pooled connections), so the reset query asyncpg sends on every release — a round trip per
    batch — is skipped. Open transactions are still rolled back by the pool."""

    def get_reset_query(self) -> str:
        return ""


class Database:
    """Owns the pool and tracks whether the database is reachable and migrated."""

    def __init__(
        self,
        dsn: str,
        min_size: int = 2,
        max_size: int = 10,
        server_settings: dict[str, str] | None = None,
    ) -> None:
        self.dsn = dsn
        self.server_settings = server_settings
        self.min_size = min_size
        self.max_size = max_size
        self.pool: asyncpg.Pool | None = None
        self.reachable = False
        self.schema_version = 0
        self._monitor: asyncio.Task[None] | None = None
        self._logged_down = False

    @property
    def ready(self) -> bool:
        return self.pool is not None and self.reachable and self.schema_version >= LATEST_VERSION

    def start(self, interval: float = 1.0) -> None:
        self._monitor = asyncio.create_task(self._watch(interval), name="db-monitor")

    async def _watch(self, interval: float) -> None:
        while True:
            try:
                if self.pool is None:
                    self.pool = await asyncpg.create_pool(
                        self.dsn,
                        min_size=self.min_size,
                        max_size=self.max_size,
                        command_timeout=10,
                        timeout=5,
                        connection_class=_StatelessConnection,
                        server_settings=self.server_settings,
                    )
                async with self.pool.acquire(timeout=5) as conn:
                    self.schema_version = await current_version(conn)
                if not self.reachable:
                    log.info("database reachable", extra={"schema_version": self.schema_version})
                self.reachable = True
                self._logged_down = False
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if not self._logged_down:
                    log.warning("database unreachable", extra={"error": str(exc)})
                    self._logged_down = True
                self.reachable = False
            await asyncio.sleep(interval if self.reachable else min(interval, 0.5))

    def mark_unreachable(self) -> None:
        self.reachable = False

    def stats(self) -> dict[str, int]:
        if self.pool is None:
            return {"size": 0, "in_use": 0, "idle": 0, "max": self.max_size}
        size = self.pool.get_size()
        idle = self.pool.get_idle_size()
        return {"size": size, "in_use": size - idle, "idle": idle, "max": self.max_size}

    async def close(self, timeout: float) -> None:
        if self._monitor:
            self._monitor.cancel()
        if self.pool is not None:
            try:
                await asyncio.wait_for(self.pool.close(), timeout)
            except TimeoutError:
                self.pool.terminate()


def check_dsn(dsn: str) -> str | None:
    """A message when ``dsn`` cannot be a PostgreSQL URL, else None."""
    scheme = dsn.split("://", 1)[0] if "://" in dsn else ""
    if scheme not in {"postgres", "postgresql"}:
        return f"the database URL must start with postgresql:// (got {dsn.rsplit('@', maxsplit=1)[-1]!r})"
    return None
