"""The SIGTERM budget: the pod's grace period minus a safety margin, split into timed phases.

The operator and the chart hand every process its pod's ``terminationGracePeriodSeconds`` in
``LOGISTICA_GRACE_SECONDS``; each process must be gone before the kubelet's SIGKILL.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from logistica_workers.runtime.settings import env_number

log = logging.getLogger("logistica.shutdown")

DEFAULT_GRACE_SECONDS = 30.0
DEFAULT_DRAIN_DELAY_SECONDS = 5.0
MAX_GRACE_SECONDS = 86_400.0


def grace_seconds() -> float:
    """``LOGISTICA_GRACE_SECONDS``: the pod's termination grace period."""
    return env_number(
        "LOGISTICA_GRACE_SECONDS", DEFAULT_GRACE_SECONDS, low=0.1, high=MAX_GRACE_SECONDS
    )


def drain_delay_seconds() -> float:
    """``LOGISTICA_DRAIN_DELAY_SECONDS``: how long to keep serving once unready (uncapped)."""
    return env_number(
        "LOGISTICA_DRAIN_DELAY_SECONDS", DEFAULT_DRAIN_DELAY_SECONDS, low=0, high=MAX_GRACE_SECONDS
    )


def budget_seconds(grace: float) -> float:
    """What the process may spend: the grace period less 10 % (at least 1 s, at most 5 s)."""
    margin = min(5.0, max(1.0, grace * 0.1))
    return max(0.5, grace - margin)


@dataclass
class ShutdownClock:
    """Started on SIGTERM; tells how much budget is left and logs each phase's duration."""

    budget: float
    started: float = field(default_factory=time.monotonic)
    phases: dict[str, float] = field(default_factory=dict)

    def remaining(self) -> float:
        return max(0.0, self.budget - (time.monotonic() - self.started))

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t0 = time.monotonic()
        try:
            yield
        finally:
            took = time.monotonic() - t0
            self.phases[name] = round(took, 4)
            log.info(
                "shutdown phase done",
                extra={
                    "phase": name,
                    "seconds": round(took, 4),
                    "remaining": round(self.remaining(), 3),
                },
            )

    def summary(self) -> None:
        total = time.monotonic() - self.started
        log.info(
            "shutdown complete",
            extra={"seconds": round(total, 4), "budget": self.budget, "phases": self.phases},
        )


def install_stop_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set ``stop``; a second SIGINT is left to the default (abort)."""

    def fire(sig: signal.Signals) -> None:
        log.info("signal received", extra={"signal": sig.name})
        if stop.is_set() and sig is signal.SIGINT:
            loop.remove_signal_handler(signal.SIGINT)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, fire, sig)
