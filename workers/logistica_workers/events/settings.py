"""``LOGISTICA_EVENTS_*`` settings of the events service."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from logistica_workers.events.retention import RetentionPolicy
from logistica_workers.runtime.settings import env_int, env_number, env_optional, env_str


@dataclass(frozen=True)
class EventsSettings:
    default_limit: int = 100
    max_limit: int = 10_000
    max_wait: float = 60.0
    pool_size: int = 10
    token: str | None = None
    retry_after: int = 1
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    # seconds between partition upkeep passes (0: none; run `logistica events maintain`)
    maintenance_interval: float = 3600.0

    @classmethod
    def from_env(cls) -> EventsSettings:
        """ValueError names the variable that is wrong."""
        max_limit = env_int("LOGISTICA_EVENTS_MAX_LIMIT", cls.max_limit, low=1, high=100_000)
        return cls(
            default_limit=min(
                max_limit,
                env_int("LOGISTICA_EVENTS_DEFAULT_LIMIT", cls.default_limit, low=1, high=100_000),
            ),
            max_limit=max_limit,
            max_wait=env_number("LOGISTICA_EVENTS_MAX_WAIT", cls.max_wait, low=0, high=3600),
            pool_size=env_int("LOGISTICA_EVENTS_POOL_SIZE", cls.pool_size, low=2, high=1000),
            token=_token(),
            retention=RetentionPolicy.from_env(),
            maintenance_interval=env_number(
                "LOGISTICA_EVENTS_MAINTENANCE_SECONDS", cls.maintenance_interval, low=0, high=86400
            ),
        )


def _token() -> str | None:
    """The bearer token readers must send: ``$LOGISTICA_EVENTS_TOKEN``, or the first line of
    the file ``$LOGISTICA_EVENTS_TOKEN_FILE`` (a mounted Secret). None: no token required."""
    path = env_optional("LOGISTICA_EVENTS_TOKEN_FILE")
    if path:
        try:
            text = Path(path).read_text().strip()
        except OSError as exc:
            raise ValueError(f"LOGISTICA_EVENTS_TOKEN_FILE cannot be read: {exc}") from None
        if not text:
            raise ValueError(f"LOGISTICA_EVENTS_TOKEN_FILE {path} is empty")
        return text
    token = env_str("LOGISTICA_EVENTS_TOKEN", "")
    if env_str("LOGISTICA_EVENTS_TOKEN", "-") == "":
        raise ValueError("LOGISTICA_EVENTS_TOKEN is set but empty")
    return token or None
