"""The last word on a plan's dropped stops, and the time a solve keeps for it.

After the engines: ``repair.repair_drops`` (a dropped stop into a route with room, or in the
place of a lower priority), ``reassign.reassign`` (when capacity is short: which stops to serve
and where, as small integer programs over neighbourhoods of routes), ``exchange.exchange_drops``
(one route at a time: one stop out, one or two in), and a last repair, as an exchange pass cut
short may leave a dropped stop that a swap for a lower priority would serve.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from logistica_workers.routing import heap, reassign
from logistica_workers.routing.evaluate import Routes
from logistica_workers.routing.exchange import exchange_drops
from logistica_workers.routing.instance import Instance
from logistica_workers.routing.repair import repair_drops

EXCHANGE_SECONDS = 0.1  # the exchanges after a solve stop after this (it adds to its wall time)
# kept from the search for ``reassign`` when capacity is short: it reached its best in
# 0.04-0.2 s at 300 stops, 0.5-1.0 s at 1,000, 0.7-3.4 s at 2,000 (benchmarks/routing/reassign.txt;
# in a full solve at 300 stops one plan needed 0.6 s: its whole-fleet program comes last)
RESERVE_PER_STOP_SECONDS = 0.0025
RESERVE_SHARE = 0.25  # ... and at most this share of the time limit


def short_of_capacity(inst: Instance) -> bool:
    """Whether the fleet cannot carry every stop (so some must be dropped) on a plan
    ``reassign`` works on."""
    return reassign.applies(inst) and inst.capacity_short


def reserve(inst: Instance) -> float:
    """Seconds of its time limit a solve of ``inst`` keeps after its search for ``reassign``."""
    if not short_of_capacity(inst):
        return 0.0
    return min(RESERVE_SHARE * inst.time_limit, RESERVE_PER_STOP_SECONDS * inst.n_stops)


def finish_drops(
    inst: Instance,
    routes: Routes,
    reassign_until: float | None = None,
    seconds: float = EXCHANGE_SECONDS,
    stop: Callable[[], bool] = lambda: False,
) -> Routes:
    """``routes`` after repair, reassignment (until ``reassign_until`` on the monotonic clock,
    or ``stop()``; none without it), exchanges (at most ``seconds``) and a last repair if the
    exchanges changed anything."""
    repaired = repair_drops(inst, routes)
    if reassign_until is not None and short_of_capacity(inst):
        heap.trim()  # the searches' freed memory back before OR-Tools is loaded (peak RSS)
        left = reassign_until - time.monotonic()
        repaired = reassign.reassign(inst, repaired, left, stop)
    out = exchange_drops(inst, repaired, seconds)
    return repaired if out == repaired else repair_drops(inst, out)
