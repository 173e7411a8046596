"""logistica workers: webhook ingest, routing, database and runtime support."""

__version__ = "0.1.0"
