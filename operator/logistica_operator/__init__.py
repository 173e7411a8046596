"""The logistica kopf operator: WebhookSource -> ingest workers, RoutingJob -> solver Jobs."""
