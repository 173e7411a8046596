"""Settings every ``logistica`` process reads, checked together at start-up."""

from __future__ import annotations

from logistica_workers.runtime.logging import log_format, log_level
from logistica_workers.runtime.shutdown import drain_delay_seconds, grace_seconds


def check_process_settings() -> None:
    """Raise SettingError for a bad log level or format, grace period or drain delay."""
    log_level()
    log_format()
    grace_seconds()
    drain_delay_seconds()
