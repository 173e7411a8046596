"""Process plumbing shared by every worker: settings, logging, metrics, graceful shutdown."""
