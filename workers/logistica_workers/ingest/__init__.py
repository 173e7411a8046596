"""The webhook ingest worker: verify, bound, and durably store signed webhooks."""
