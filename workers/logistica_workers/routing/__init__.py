"""Vehicle routing: instance building, engines (OR-Tools, PyVRP), portfolio, service, CLI."""
