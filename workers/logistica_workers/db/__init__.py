"""Postgres: connection pool, versioned migrations, and an embedded server for dev and tests."""
