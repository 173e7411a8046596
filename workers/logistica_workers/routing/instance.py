"""The solver's view of a problem: integer matrices over nodes, built once with numpy.

Nodes: ``0..n-1`` stops, ``n..n+m-1`` courier start positions, ``n+m`` the route end.
Every courier must load at the origin before serving a stop, so the arc from a courier's start
to a stop costs start->origin->stop. Routes are open (ending costs nothing) unless they return
to the origin. An unused courier costs nothing.

Times are integer seconds from the problem's time zero: per stop its time windows (service
starts inside one; arriving early waits), per courier its shift (leaves its position at the
start, the route ends by the end) and its longest route.

A user matrix (``Problem.matrix``) replaces haversine / speed; its null cells are unreachable
arcs: ``blocked`` marks them, they cost more than dropping any stop, OR-Tools never takes them
and the portfolio removes any stop an engine reached through one (``drop_blocked``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from logistica_workers.api import Problem, times
from logistica_workers.api.routing import Break, Shift, time_zero
from logistica_workers.routing.geo import euclidean_matrix, haversine_matrix

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]

# Objective weights (see README "The routing model").
ARRIVAL_WEIGHT_M_PER_S = 1.0  # a priority-100 stop waiting 1 s costs as much as 1 m of driving
COST_SCALE = 100  # integer cost units per metre, so priority/100 * 1 m/s is an integer per s
OPEN_END = 4 * times.MAX_SECONDS  # a shift without an end; later than any plan
NEVER = OPEN_END + 1  # a window that has passed (before time zero): nobody can make it
UNREACHABLE = 10**7  # travel time (s) at or above which an arc has no path (a matrix null)
ROUND_BLOCK = 64  # rows at a time when rounding a matrix to integers

Window = tuple[int, int]
BreakSpec = tuple[int, int, int]  # earliest start, latest start, duration (seconds)


@dataclass(frozen=True)
class Instance:
    kind: str  # "logistics" (priority model) or "cvrp" (classic: closed routes, all required)
    stop_ids: list[str]
    courier_ids: list[str]
    distance: IntArray  # metres (cvrp: rounded Euclidean units), N x N
    travel_time: IntArray  # seconds incl. service time at the from-node, N x N
    demand: IntArray  # per node, 0 for starts and end
    priority: IntArray  # per node, 0 for starts and end
    capacity: list[int]  # per vehicle
    time_limit: float
    return_to_origin: bool
    service: IntArray | None = None  # per node, seconds (already inside travel_time)
    windows: tuple[tuple[Window, ...], ...] = ()  # per stop; () = any time
    shifts: tuple[Window, ...] = ()  # per vehicle; () = (0, OPEN_END) for every vehicle
    max_duration: tuple[int | None, ...] = ()  # per vehicle
    breaks: tuple[tuple[BreakSpec, ...], ...] = ()  # per vehicle
    soft_windows: bool = False
    lateness_cost: float = 0.0  # metre-equivalents per second late (soft windows)
    zero: datetime | None = field(default=None, compare=False)
    blocked: BoolArray | None = None  # N x N, True = unreachable arc (user matrix nulls)
    pinned: tuple[int, ...] = ()  # per stop: the only vehicle it may go to, or -1 (re-planning)

    @property
    def timed(self) -> bool:
        """Whether any window, shift or route limit constrains times."""
        return (
            any(self.windows)
            or any(s != (0, OPEN_END) for s in self.shifts)
            or any(d is not None for d in self.max_duration)
            or any(self.breaks)
        )

    @property
    def capacity_short(self) -> bool:
        """Whether the stops' demand exceeds the fleet's capacity (some stop must be dropped)."""
        return int(self.demand[: self.n_stops].sum()) > sum(self.capacity)

    def allows(self, vehicle: int, stop: int) -> bool:
        """Whether ``stop`` may go on ``vehicle``'s route (``pinned``)."""
        return not self.pinned or self.pinned[stop] < 0 or self.pinned[stop] == vehicle

    def keeps_pins(self, routes: list[list[int]]) -> bool:
        return not self.pinned or all(self.allows(v, s) for v, r in enumerate(routes) for s in r)

    def windows_of(self, stop: int) -> tuple[Window, ...]:
        return self.windows[stop] if self.windows else ()

    def shift(self, vehicle: int) -> Window:
        return self.shifts[vehicle] if self.shifts else (0, OPEN_END)

    def breaks_of(self, vehicle: int) -> tuple[BreakSpec, ...]:
        return self.breaks[vehicle] if self.breaks else ()

    def duration_limit(self, vehicle: int) -> int | None:
        return self.max_duration[vehicle] if self.max_duration else None

    @property
    def n_stops(self) -> int:
        return len(self.stop_ids)

    @property
    def n_vehicles(self) -> int:
        return len(self.capacity)

    @property
    def end(self) -> int:
        return self.n_stops + self.n_vehicles

    def start(self, vehicle: int) -> int:
        return self.n_stops + vehicle

    def drop_penalty(self) -> IntArray:
        """Per stop: larger than any routing cost, growing with priority (low dropped first)."""
        n = self.n_stops
        bound = COST_SCALE * (n + 1) * (_max_open(self.distance, self.blocked) + 1)
        bound += COST_SCALE * (n + 1) * _max_open(self.travel_time, self.blocked)
        if self.timed:
            # times count from time zero: serving a stop late in the horizon must still cost
            # less than dropping it (its own arrival and lateness terms, and the delay of the
            # stops after it); linear in n, so the sum of all penalties fits in an int64
            tt = self.travel_time
            longest = int(tt[tt < UNREACHABLE].max())
            per_second = 100 + math.ceil(self.lateness_cost * COST_SCALE)
            latest = max([w[1] for ws in self.windows for w in ws if w[1] < NEVER], default=0)
            latest = max(latest, *(s[0] for s in self.shifts), 0) + (n + 1) * longest
            bound += per_second * (latest + 2 * (n + 1) * longest)
        return (1 + self.priority[:n]) * bound

    def arc_open(self, a: int, b: int) -> bool:
        return self.blocked is None or not bool(self.blocked[a, b])


def _max_open(values: IntArray, blocked: BoolArray | None) -> int:
    """The largest entry on an arc a route may use."""
    if blocked is None or not blocked.any():
        return int(values.max())
    open_values = values[~blocked]
    return int(open_values.max()) if open_values.size else 0


def _assemble(
    base: FloatArray,
    base_time: FloatArray,
    n: int,
    m: int,
    service: IntArray,
    return_to_origin: bool,
) -> tuple[IntArray, IntArray, BoolArray | None]:
    """``base`` (metres) and ``base_time`` (seconds) are over [origin, stops..., couriers...],
    NaN = unreachable; returns the node distance and time matrices and the blocked arcs.
    Each is rounded to integers in its own buffer (``_rint_int64``): at 2,000 stops every
    N x N temporary is 38 MB, and the build, not the search, made ``solve``'s peak."""
    size = n + m + 1
    dist = np.zeros((size, size), dtype=np.float64)
    t = np.zeros((size, size), dtype=np.float64)
    for out, b in ((dist, base), (t, base_time)):
        origin_to = b[0]
        out[:n, :n] = b[1 : n + 1, 1 : n + 1]
        # start k -> stop j goes through the origin to load
        out[n : n + m, :n] = b[n + 1 :, 0][:, None] + origin_to[None, 1 : n + 1]
        if return_to_origin:
            out[:n, n + m] = b[1 : n + 1, 0]
        np.fill_diagonal(out, 0)
    nan = np.isnan(dist)
    nan |= np.isnan(t)
    blocked: BoolArray | None = None
    if nan.any():
        blocked = nan
        dist[nan] = 0  # placeholders: the real costs are set once the open maxima are known
        t[nan] = 0
    dist_i = _rint_int64(dist)
    t_i = _rint_int64(t)
    t_i[:n, :] += service[:n, None]  # service happens at the from-node
    np.fill_diagonal(t_i, 0)
    if blocked is not None:
        t_i[blocked] = UNREACHABLE  # the distance is set by from_problem (above any drop)
    return dist_i, t_i, blocked


def _rint_int64(values: FloatArray) -> IntArray:
    """``np.rint(values).astype(np.int64)`` in ``values``' own buffer (which it consumes),
    ``ROUND_BLOCK`` rows at a time: no N x N temporaries."""
    out: IntArray = values.view(np.int64)
    for lo in range(0, len(values), ROUND_BLOCK):
        rows = np.rint(values[lo : lo + ROUND_BLOCK]).astype(np.int64)  # a copy: no overlap
        out[lo : lo + ROUND_BLOCK] = rows
    return out


def base_matrices(problem: Problem) -> tuple[FloatArray, FloatArray]:
    """Metres and seconds over [origin, stops..., couriers...]: the problem's matrix where
    given (null = NaN = unreachable), else haversine distance and distance / speed."""
    speed_mps = problem.options.speed_kmh / 3.6
    mx = problem.matrix
    dist: FloatArray | None = None
    if mx is not None and mx.distances is not None:
        dist = np.array(mx.distances, dtype=np.float64)
    if dist is None:
        lat = np.array(
            [problem.origin.lat]
            + [s.lat for s in problem.stops]
            + [c.lat for c in problem.couriers],
            dtype=np.float64,
        )
        lng = np.array(
            [problem.origin.lng]
            + [s.lng for s in problem.stops]
            + [c.lng for c in problem.couriers],
            dtype=np.float64,
        )
        dist = haversine_matrix(lat, lng)
    if mx is not None and mx.durations is not None:
        return dist, np.array(mx.durations, dtype=np.float64)
    return dist, dist / speed_mps


def from_problem(problem: Problem, time_limit: float | None = None) -> Instance:
    n, m = len(problem.stops), len(problem.couriers)
    base, base_time = base_matrices(problem)
    service = np.zeros(n + m + 1, dtype=np.int64)
    service[:n] = [s.service_seconds for s in problem.stops]
    opts = problem.options
    dist, t, blocked = _assemble(base, base_time, n, m, service, opts.return_to_origin)
    node_zero = [0] * (m + 1)
    zero = time_zero(problem.start_time)
    inst = Instance(
        kind="logistics",
        stop_ids=problem.stop_ids(),
        courier_ids=[c.id for c in problem.couriers],
        distance=dist,
        travel_time=t,
        demand=np.array([s.demand for s in problem.stops] + node_zero, dtype=np.int64),
        priority=np.array([s.priority for s in problem.stops] + node_zero, dtype=np.int64),
        capacity=[c.capacity for c in problem.couriers],
        time_limit=float(time_limit if time_limit is not None else opts.time_limit_seconds),
        return_to_origin=opts.return_to_origin,
        service=service,
        windows=tuple(
            windows_seconds([(w.start, w.end) for w in s.time_windows], zero) for s in problem.stops
        ),
        shifts=tuple(_shift(c.shift, c.available_at, zero) for c in problem.couriers),
        max_duration=tuple(c.max_route_seconds for c in problem.couriers),
        breaks=tuple(breaks_seconds(c.breaks, zero) for c in problem.couriers),
        soft_windows=opts.soft_time_windows,
        lateness_cost=opts.lateness_cost_per_second,
        zero=zero,
        blocked=blocked,
    )
    if blocked is not None and n:  # dearer than dropping any stop: no search pays for one
        inst.distance[blocked] = int(inst.drop_penalty().max()) + 1
    return inst


def windows_seconds(
    spans: list[tuple[int | str, int | str]], zero: datetime | None
) -> tuple[Window, ...]:
    """Windows in seconds from time zero; parts before it are cut off, and a stop whose
    windows have all passed gets one that nobody can make."""
    if not spans:
        return ()
    out = []
    for start, end in spans:
        a, b = times.to_seconds(start, zero), times.to_seconds(end, zero)
        if b >= 0:
            out.append((max(0, a), b))
    return tuple(out) or ((NEVER, NEVER),)


def breaks_seconds(breaks: list[Break], zero: datetime | None) -> tuple[BreakSpec, ...]:
    """Breaks in seconds from time zero; one whose latest start has passed is not owed."""
    out = []
    for b in breaks:
        start, end = times.to_seconds(b.start, zero), times.to_seconds(b.end, zero)
        if end >= 0:
            out.append((max(0, start), end, b.duration_seconds))
    return tuple(out)


def _shift(shift: Shift | None, available_at: int | str | None, zero: datetime | None) -> Window:
    """A shift in seconds from time zero; one that ended before it has no time at all. A
    courier available later (``availableAt``, re-planning) starts then; available only after
    the shift's end, it has no time either (its empty route stays feasible)."""
    start, end = 0, OPEN_END
    if shift is not None:
        start, end = times.to_seconds(shift.start, zero), times.to_seconds(shift.end, zero)
    if available_at is not None:
        start = max(start, times.to_seconds(available_at, zero))
    start = max(0, start)
    return (start, max(start, end))  # available only after its shift: no time for any stop


def cvrp_instance(
    xy: npt.NDArray[np.float64],
    demand: list[int],
    capacity: int,
    time_limit: float,
    names: list[str],
) -> Instance:
    """Classic CVRP: row 0 of ``xy`` is the depot; closed routes; rounded Euclidean costs."""
    n = len(demand)
    base = euclidean_matrix(xy[:, 0], xy[:, 1])
    base = np.rint(base)  # CVRPLIB EUC_2D: nint of each arc
    k_min = math.ceil(sum(demand) / capacity)
    m = max(2, math.ceil(k_min * 1.5) + 3)  # "unlimited": more than any good solution uses
    full = np.vstack([base, np.repeat(base[:1], m, axis=0)])  # every vehicle starts at the depot
    full = np.hstack([full, np.repeat(full[:, :1], m, axis=1)])
    service = np.zeros(n + m + 1, dtype=np.int64)
    # at the depot: the start->stop arc is depot->stop (start==depot, depot->depot = 0)
    dist, _, _ = _assemble(full, full, n, m, service, True)
    return Instance(
        kind="cvrp",
        stop_ids=names,
        courier_ids=[f"vehicle-{k + 1}" for k in range(m)],
        distance=dist,
        travel_time=dist.copy(),
        demand=np.array(demand + [0] * (m + 1), dtype=np.int64),
        priority=np.zeros(n + m + 1, dtype=np.int64),
        capacity=[capacity] * m,
        time_limit=time_limit,
        return_to_origin=True,
    )
