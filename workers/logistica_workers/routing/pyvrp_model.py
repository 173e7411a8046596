"""Our Instance as PyVRP ProblemData.

Logistics: locations are the instance's nodes (stops, courier starts, the route end); one start
depot per courier (its arcs to stops already go through the origin), one end depot whose arcs
cost nothing for open routes (the origin's distances with ``returnToOrigin``); one vehicle type
per courier (heterogeneous capacities); every stop optional with a prize = its drop penalty in
metres. PyVRP has no arrival-time objective: the OR-Tools phase adds it (see engines.py).
Times: one window per client (``tw_early``/``tw_late``, ``service_duration``), the shift as
the vehicle type's ``tw_early``/``tw_late`` and ``maxRouteSeconds`` as its ``shift_duration``;
durations are travel only. Where PyVRP has less than our model it solves a restriction, whose
plans are feasible for the full model: a stop with several windows gets its longest one, soft
windows are hard (the OR-Tools phase of ``hybrid`` then uses every window and prices lateness).

Breaks (``break_kinds``): PyVRP has none, so each distinct owed break (earliest start, latest
start, duration) is a *kind*, and every stop gets one copy per kind: "take the break on arrival
here, then serve", a client at the stop's location whose service is the break plus the stop's,
whose window bounds the break's start so that the service still starts inside the stop's
window. A stop and its copies form a mutually exclusive client group (served at most once). A
load dimension per kind restricts the copies to the couriers owing that break (capacity 1: at
most one each), and a copy's prize exceeds the stop's by the least stop prize (more than any
detour), so a route takes its break wherever it fits (with a bonus of 1, PyVRP let routes run
past their breaks; see ``benchmarks/routing/breaks.txt``). The copies are a restriction too (the
timing rule may place a break earlier, during a drive), so a plan PyVRP finds feasible keeps
its breaks when ``schedule.py`` places them; a route PyVRP lets run past a break's latest start
without one is cut down by ``repair.make_feasible``. Beyond ``MAX_BREAK_KINDS`` kinds (each
copies every stop) PyVRP plans without breaks and that repair does all the work.
CVRP: one depot, every client required, one vehicle type.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from logistica_workers.routing.instance import OPEN_END, BreakSpec, Instance
from logistica_workers.routing.polish import untimed

if TYPE_CHECKING:
    import pyvrp

NEVER = 10**8  # arcs no route uses (into a start depot, out of the end depot)
MAX_BREAK_KINDS = 3  # distinct breaks PyVRP models; each adds a copy of every stop
BREAK_BONUS = 1.0  # see break_bonus
# PyVRP's late-acceptance history keeps up to this many solutions (its default, 300) ...
HISTORY_LENGTH = 300
# ... but, where it was measured not to lose (``bounded_history``), no more than this many
# client visits in all: each solution it keeps holds ~60 bytes per client (62 KB at 1,000
# stops), so the default history alone grew to ~28 MB per engine thread at 1,000 stops, 56 MB of
# the 170 MB peak of `solve`; this keeps 300 up to 333 stops, 100 at 1,000, 50 at 2,000.
# Measured (benchmarks/routing/ab.py): objective -1.2 % at 1,000 and 2,000 stops, plentiful and
# with returns; capacity short it dropped more priority weight (+1.2-1.4 % in 3 of 6 runs)
HISTORY_VISITS = 100_000


def owed_breaks(inst: Instance, vehicle: int) -> list[BreakSpec]:
    """The breaks a route of ``vehicle`` may owe: not over before its shift starts (as
    ``schedule``), and not starting only after its shift has ended."""
    start, end = inst.shift(vehicle)
    return [
        b for b in inst.breaks_of(vehicle) if b[1] >= start and b[0] + b[2] > start and b[0] <= end
    ]


def break_kinds(inst: Instance) -> list[BreakSpec] | None:
    """The distinct owed breaks, in order of first appearance; None when there are none, or
    more than ``MAX_BREAK_KINDS`` (then PyVRP plans without breaks)."""
    if inst.kind != "logistics" or not any(inst.breaks):
        return None
    kinds: list[BreakSpec] = []
    for v in range(inst.n_vehicles):
        for b in owed_breaks(inst, v):
            if b not in kinds:
                kinds.append(b)
    return kinds if 0 < len(kinds) <= MAX_BREAK_KINDS else None


def _window(inst: Instance, i: int) -> tuple[int, int]:
    windows = inst.windows_of(i)
    return max(windows, key=lambda w: w[1] - w[0]) if windows else (0, OPEN_END)


def break_copies(inst: Instance, kinds: list[BreakSpec]) -> list[tuple[int, int, int, int]]:
    """(kind, stop, earliest, latest break start) of each copy: the break starts in its own
    window and ends in time for the stop's window; copies whose window is empty do not exist."""
    out = []
    for k, (a, b, d) in enumerate(kinds):
        for i in range(inst.n_stops):
            early, late = _window(inst, i)
            first, last = max(a, early - d), min(b, late - d)
            if first <= last:
                out.append((k, i, first, last))
    return out


def break_bonus(prizes: list[int]) -> int:
    """How much more a break copy is worth than its stop: ``BREAK_BONUS`` x the least prize
    (which is more than any detour)."""
    return int(BREAK_BONUS * min(prizes, default=0))


def stop_of_clients(inst: Instance, model_breaks: bool = True) -> list[int]:
    """The stop node of every PyVRP client (stops first, then their break copies)."""
    kinds = break_kinds(inst) if model_breaks else None
    copies = break_copies(inst, kinds) if kinds else []
    return [*range(inst.n_stops), *(i for _, i, _, _ in copies)]


def stop_prizes(inst: Instance) -> list[int]:
    """(1 + priority) x more than any stop's detour: a stop that fits is never dropped, and
    among drops the ratios of our drop penalties hold."""
    n = inst.n_stops
    d = inst.distance[: inst.end, :n]
    if inst.blocked is not None:  # unreachable arcs cost more than any prize
        d = np.where(inst.blocked[: inst.end, :n], 0, d)
    unit = 2 * int(d.max()) + 1
    return [int((1 + inst.priority[i]) * unit) for i in range(n)]


def _durations(inst: Instance) -> npt.NDArray[np.int64]:
    """Travel-only seconds (our travel times include the from-node's service)."""
    n, m = inst.n_stops, inst.n_vehicles
    dur = inst.travel_time.copy()
    if inst.service is not None:
        dur[:n, :] -= inst.service[:n, None]
    dur[:n, n : n + m] = NEVER
    dur[n + m, :] = NEVER
    dur[n : n + m, n : n + m] = NEVER
    dur[n : n + m, n + m] = 0
    np.fill_diagonal(dur, 0)
    return np.maximum(dur, 0)


def _zeros(like: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Zero durations for PyVRP to copy: ``np.zeros`` maps zero pages that take no memory
    until written (``np.zeros_like`` writes every one: 38 MB at 2,000 stops)."""
    return np.zeros(like.shape, dtype=like.dtype)


def _client(inst: Instance, i: int, prize: int, kinds: int, group: int | None) -> pyvrp.Client:
    import pyvrp

    early, late = _window(inst, i)
    service = int(inst.service[i]) if inst.service is not None else 0
    return pyvrp.Client(
        i,
        delivery=[int(inst.demand[i]), *([0] * kinds)],
        service_duration=service,
        tw_early=early,
        tw_late=late,
        prize=prize,
        required=False,
        group=group,
    )


def _break_copy(
    inst: Instance, copy: tuple[int, int, int, int], kinds: list[BreakSpec], prize: int, group: int
) -> pyvrp.Client:
    """Stop ``i`` served right after the break of kind ``k``, taken on arrival."""
    import pyvrp

    k, i, first, last = copy
    service = int(inst.service[i]) if inst.service is not None else 0
    token = [0] * len(kinds)
    token[k] = 1
    return pyvrp.Client(
        i,
        delivery=[int(inst.demand[i]), *token],
        service_duration=kinds[k][2] + service,
        tw_early=first,
        tw_late=last,
        prize=prize,
        required=False,
        group=group,
    )


def _vehicle(inst: Instance, k: int, kinds: list[BreakSpec]) -> pyvrp.VehicleType:
    import pyvrp

    m = inst.n_vehicles
    if not inst.timed:
        return pyvrp.VehicleType(1, capacity=[inst.capacity[k]], start_depot=k, end_depot=m)
    start, end = inst.shift(k)
    limit = inst.duration_limit(k)
    owed = owed_breaks(inst, k)
    tokens = [int(b in owed) for b in kinds]  # one break of each kind it owes
    return pyvrp.VehicleType(
        1,
        capacity=[inst.capacity[k], *tokens],
        start_depot=k,
        end_depot=m,
        tw_early=start,
        tw_late=max(start, end),
        shift_duration=limit if limit is not None else OPEN_END,
    )


def build(inst: Instance, model_breaks: bool = True) -> pyvrp.ProblemData:
    """``model_breaks=False``: plan as if no courier had breaks (the routes then need
    ``repair.make_feasible``)."""
    import pyvrp

    n, m = inst.n_stops, inst.n_vehicles
    if inst.kind == "cvrp":
        dist = np.zeros((n + 1, n + 1), dtype=np.int64)
        dist[:n, :n] = inst.distance[:n, :n]
        dist[n, :n] = inst.distance[inst.start(0), :n]
        dist[:n, n] = inst.distance[:n, inst.end]
        return pyvrp.ProblemData(
            [pyvrp.Location(0, 0) for _ in range(n + 1)],
            [pyvrp.Client(i, delivery=[int(inst.demand[i])]) for i in range(n)],
            [pyvrp.Depot(n)],
            [pyvrp.VehicleType(m, capacity=[inst.capacity[0]])],
            [dist],  # type: ignore[list-item]
            [_zeros(dist)],  # type: ignore[list-item]
        )
    dist = inst.distance.copy()
    dist[:n, n : n + m] = NEVER
    dist[n + m, :] = NEVER
    dist[n : n + m, n : n + m] = NEVER
    dist[n : n + m, n + m] = 0
    np.fill_diagonal(dist, 0)
    prizes = stop_prizes(inst)
    durations = _durations(inst) if inst.timed else _zeros(dist)
    kinds = (break_kinds(inst) if model_breaks else None) or []
    copies = break_copies(inst, kinds)
    copied = sorted({i for _, i, _, _ in copies})
    group_of = {i: g for g, i in enumerate(copied)}
    members: list[list[int]] = [[i] for i in copied]
    for c, (_, i, _, _) in enumerate(copies):
        members[group_of[i]].append(n + c)
    bonus = break_bonus(prizes)
    clients = [_client(inst, i, prizes[i], len(kinds), group_of.get(i)) for i in range(n)]
    clients += [_break_copy(inst, c, kinds, prizes[c[1]] + bonus, group_of[c[1]]) for c in copies]
    return pyvrp.ProblemData(
        [pyvrp.Location(0, 0) for _ in range(n + m + 1)],
        clients,
        [pyvrp.Depot(n + k) for k in range(m + 1)],
        [_vehicle(inst, k, kinds) for k in range(m)],
        [dist],  # type: ignore[list-item]
        [durations],  # type: ignore[list-item]
        [pyvrp.ClientGroup(g, required=False) for g in members],
    )


_shared_lock = threading.Lock()
_shared: dict[tuple[int, bool], tuple[Instance, pyvrp.ProblemData, list[int]]] = {}


@contextlib.contextmanager
def shared_data(inst: Instance, model_breaks: bool = True) -> Iterator[pyvrp.ProblemData]:
    """``build(inst, model_breaks)``, built once for the engine threads of one process that
    search it at the same time (PyVRP only reads it; at 1,000 stops it holds 19 MB: its own
    copies of the distance and duration matrices, measured), dropped when the last is done."""
    key = (id(inst), model_breaks)
    with _shared_lock:  # a second thread waits for the first one's build instead of its own
        entry = _shared.get(key)
        if entry is None or entry[0] is not inst:
            entry = _shared[key] = (inst, build(inst, model_breaks), [0])
        entry[2][0] += 1
    try:
        yield entry[1]
    finally:
        with _shared_lock:
            entry[2][0] -= 1
            if entry[2][0] == 0 and _shared.get(key) is entry:
                del _shared[key]


def solve_params(
    inst: Instance, model_breaks: bool = True, neighbours: int | None = None
) -> pyvrp.SolveParams:
    """Raise the load-penalty cap above the largest prize (a break copy's included), or
    overloading would pay. ``neighbours``: the size of each client's granular neighbourhood
    (None: PyVRP's default). The search's parameters are always a new object: PyVRP's default
    one is shared by every ``SolveParams()``, so the callbacks an engine sets on it would
    become every other engine thread's too (their plans reported as its own)."""
    import pyvrp
    from pyvrp.search import NeighbourhoodParams

    hood = (
        NeighbourhoodParams()
        if neighbours is None
        else NeighbourhoodParams(num_neighbours=neighbours)
    )
    ils = pyvrp.IteratedLocalSearchParams()
    if inst.kind == "cvrp":  # CVRPLIB's headline keeps PyVRP's own search
        return pyvrp.SolveParams(ils=ils, neighbourhood=hood)
    if bounded_history(inst):
        ils = pyvrp.IteratedLocalSearchParams(history_length=history_length(inst.n_stops))
    top = max(stop_prizes(inst))
    if model_breaks and break_kinds(inst):
        top += break_bonus(stop_prizes(inst))  # a break copy's prize
    penalty = pyvrp.PenaltyParams(max_penalty=4.0 * top)
    return pyvrp.SolveParams(ils=ils, penalty=penalty, neighbourhood=hood)


def bounded_history(inst: Instance) -> bool:
    """Whether PyVRP's history is bounded (``HISTORY_VISITS``): where that was measured, our
    model without times (no windows, shifts, route limits, breaks or unreachable arcs) and
    capacity for every stop; elsewhere it stays PyVRP's."""
    return untimed(inst) and not inst.capacity_short


def history_length(stops: int) -> int:
    """How many solutions PyVRP's late acceptance remembers when bounded (``HISTORY_VISITS``)."""
    return max(1, min(HISTORY_LENGTH, HISTORY_VISITS // max(1, stops)))


def routes_of(
    inst: Instance, solution: pyvrp.Solution, stop_of: list[int] | None = None
) -> list[list[int]]:
    """Per courier (vehicle), the stop nodes in visit order (``stop_of``: of each client, see
    ``stop_of_clients``; default: client = stop). Breaks are left to ``schedule.py``."""
    routes: list[list[int]] = [[] for _ in range(inst.n_vehicles)]
    if inst.kind == "cvrp":
        for k, r in enumerate(solution.routes()):
            routes[k] = [int(a.idx) for a in r if a.is_client()]
        return routes
    for r in solution.routes():
        visits = [int(a.idx) for a in r if a.is_client()]
        routes[r.vehicle_type()] = [stop_of[c] for c in visits] if stop_of else visits
    return routes
