"""Databases on the test server."""

from __future__ import annotations

import asyncpg


async def create_database(admin_dsn: str, name: str) -> str:
    """A fresh, empty database (dropped first if it exists); returns its DSN."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_dsn.rsplit("/", 1)[0] + f"/{name}"
