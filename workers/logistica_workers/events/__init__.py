"""The event feed: ``GET /events`` over ``external_events`` in commit-safe cursor order."""
