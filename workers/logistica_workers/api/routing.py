"""Routing problem, options, RoutingJob spec and the solution, as JSON and as CRD fields."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BeforeValidator, ConfigDict, Field, field_validator, model_validator

from logistica_workers.api import times
from logistica_workers.api.common import DNS_SUBDOMAIN, OBJECT_ID, ApiModel
from logistica_workers.api.times import MAX_SECONDS, TIME_DESCRIPTION, Stamp, TimeValue

Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Lng = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
ObjectId = Annotated[str, Field(min_length=1, max_length=64, pattern=OBJECT_ID)]

MAX_STOPS_INLINE = 2000  # CRD limit for spec.problem; larger problems use problemFrom
MAX_COURIERS_INLINE = 200
MAX_WINDOWS = 16  # time windows per stop
MAX_BREAKS = 4  # breaks per courier
MAX_MATRIX_LOCATIONS = 5001  # a user matrix is at most this square (25 M cells)
ORIGIN = "Pickup point (depot); every courier drives here and loads first."


class Location(ApiModel):
    lat: Annotated[Lat, Field(description="Latitude, degrees (-90 to 90).")]
    lng: Annotated[Lng, Field(description="Longitude, degrees (-180 to 180).")]


def _ordered(a: int | str, b: int | str) -> bool | None:
    """Whether ``a <= b``; None when one is seconds and the other RFC 3339 (the problem
    compares those once it knows startTime)."""
    if isinstance(a, int) and isinstance(b, int):
        return a <= b
    if isinstance(a, str) and isinstance(b, str):
        return times.parse_stamp(a) <= times.parse_stamp(b)
    return None


class TimeWindow(ApiModel):
    start: Annotated[
        TimeValue, Field(description=f"Earliest start of service: {TIME_DESCRIPTION}.")
    ]
    end: Annotated[
        TimeValue,
        Field(description=f"Latest start of service (not before start): {TIME_DESCRIPTION}."),
    ]

    @model_validator(mode="after")
    def _end_after_start(self) -> TimeWindow:
        if _ordered(self.start, self.end) is False:
            raise ValueError(f"end is before its start ({self.end!r} < {self.start!r})")
        return self


class Shift(ApiModel):
    start: Annotated[
        TimeValue,
        Field(description=f"When the courier starts, at its position: {TIME_DESCRIPTION}."),
    ]
    end: Annotated[
        TimeValue,
        Field(
            description="When the courier's route must have ended (after the last service, "
            f"or back at the origin with returnToOrigin; not before start): {TIME_DESCRIPTION}."
        ),
    ]

    @model_validator(mode="after")
    def _end_after_start(self) -> Shift:
        if _ordered(self.start, self.end) is False:
            raise ValueError(f"end is before its start ({self.end!r} < {self.start!r})")
        return self


class Break(ApiModel):
    start: Annotated[
        TimeValue, Field(description=f"Earliest start of the break: {TIME_DESCRIPTION}.")
    ]
    end: Annotated[
        TimeValue,
        Field(description=f"Latest start of the break (not before start): {TIME_DESCRIPTION}."),
    ]
    duration_seconds: Annotated[
        int,
        Field(ge=1, le=86400, strict=True, description="Length of the break, seconds (1-86400)."),
    ]

    @model_validator(mode="after")
    def _end_after_start(self) -> Break:
        if _ordered(self.start, self.end) is False:
            raise ValueError(f"end is before its start ({self.end!r} < {self.start!r})")
        return self


def _check_windows(windows: list[Any]) -> list[Any]:
    for i in range(1, len(windows)):
        if _ordered(windows[i - 1].end, windows[i].start) is False:
            raise ValueError(
                f"window {i} starts before window {i - 1} ends: windows must be sorted "
                "and must not overlap"
            )
    return windows


class Stop(ApiModel):
    id: Annotated[
        ObjectId | None,
        Field(
            description="Unique stop id, as routes and unassigned name it: 1-64 characters, "
            "letters, digits and ._:/- (starting with a letter or digit). Required in a "
            'RoutingJob\'s spec.problem; elsewhere it defaults to the position ("0", "1", ...).'
        ),
    ] = None
    lat: Annotated[Lat, Field(description="Latitude of the stop, degrees (-90 to 90).")]
    lng: Annotated[Lng, Field(description="Longitude of the stop, degrees (-180 to 180).")]
    priority: Annotated[
        int,
        Field(
            ge=0,
            le=100,
            strict=True,
            description="0-100: higher-priority stops are reached earlier, and dropped last "
            "when the couriers' capacity cannot take every stop.",
        ),
    ]
    demand: Annotated[
        int,
        Field(
            ge=0,
            le=1_000_000,
            strict=True,
            description="Units of courier capacity the stop uses (0-1000000). Default 1.",
        ),
    ] = 1
    service_seconds: Annotated[
        int,
        Field(
            ge=0,
            le=86400,
            strict=True,
            description="Time spent at the stop, seconds (0-86400), added to the arrival "
            "times of the stops after it. Default 0.",
        ),
    ] = 0
    time_windows: Annotated[
        list[TimeWindow],
        Field(
            max_length=MAX_WINDOWS,
            description="When service may start (0-16 windows, sorted, not overlapping); "
            "a courier arriving early waits. Absent or empty: any time. Hard unless "
            "options.softTimeWindows.",
        ),
    ] = []

    @field_validator("time_windows")
    @classmethod
    def _windows_in_order(cls, windows: list[TimeWindow]) -> list[TimeWindow]:
        return _check_windows(windows)


class Courier(ApiModel):
    id: Annotated[
        ObjectId,
        Field(
            description="Unique courier id, as routes name it: 1-64 characters, letters, "
            "digits and ._:/- (starting with a letter or digit)."
        ),
    ]
    lat: Annotated[
        Lat,
        Field(
            description="Latitude of the courier's position, degrees (-90 to 90); "
            "the courier drives from here to the origin to load."
        ),
    ]
    lng: Annotated[
        Lng, Field(description="Longitude of the courier's position, degrees (-180 to 180).")
    ]
    capacity: Annotated[
        int,
        Field(
            ge=1,
            le=1_000_000,
            strict=True,
            description="Units of demand the courier carries (1-1000000); "
            "the load of its route never exceeds it.",
        ),
    ]
    shift: Annotated[
        Shift | None,
        Field(
            description="The courier's working hours: it leaves its position at shift.start "
            "(not earlier) and its route ends by shift.end. Absent: from time zero, no end."
        ),
    ] = None
    max_route_seconds: Annotated[
        Annotated[int, Field(ge=1, le=MAX_SECONDS, strict=True)] | None,
        Field(
            description="Longest route, seconds (1-2678400), from leaving its position to "
            "the route's end, waiting included. Absent: no limit."
        ),
    ] = None
    breaks: Annotated[
        list[Break],
        Field(
            max_length=MAX_BREAKS,
            description="Breaks the courier takes where it is, between two services (while "
            "driving or waiting, never during a service): 0-4, sorted, not overlapping. A "
            "break is owed when the route is still running at its latest start. Default none.",
        ),
    ] = []

    @field_validator("breaks")
    @classmethod
    def _breaks_in_order(cls, breaks: list[Break]) -> list[Break]:
        return _check_windows(breaks)

    available_at: Annotated[
        TimeValue | None,
        Field(
            description="Re-planning: when the courier is free at its position (lat, lng) to "
            f"start its route: {TIME_DESCRIPTION}. Absent: shift.start, else time zero."
        ),
    ] = None
    load: Annotated[
        int,
        Field(
            ge=0,
            le=1_000_000,
            strict=True,
            description="Re-planning: units already on board that no stop of this problem "
            "unloads (0-1000000); they take room for the whole route. Default 0.",
        ),
    ] = 0
    committed: Annotated[
        list[ObjectId],
        Field(
            max_length=MAX_STOPS_INLINE,
            description="Re-planning: ids of stops promised to this courier, in order. It "
            "serves them first, from its position, in this order (their goods are on board), "
            "then drives to the origin to load any new stops; capacity must cover load + "
            "their demand. A stop is committed to at most one courier.",
        ),
    ] = []


class RoutingOptions(ApiModel):
    time_limit_seconds: Annotated[
        int,
        Field(
            ge=1,
            le=3600,
            strict=True,
            description="Solver time limit, seconds (1-3600); the best routes found by then "
            "are the result. Default 30.",
        ),
    ] = 30
    return_to_origin: Annotated[
        bool,
        Field(
            description="Routes end back at the origin; otherwise at their last stop. "
            "Default false."
        ),
    ] = False
    speed_kmh: Annotated[
        float,
        Field(
            ge=1,  # slower overflows the solvers' integer travel times
            le=200,
            allow_inf_nan=False,
            description="Courier speed, km/h (1 to 200): travel time is "
            "haversine distance / speed. Default 30.",
        ),
    ] = 30.0
    soft_time_windows: Annotated[
        bool,
        Field(
            description="Time windows become soft: service may start after a stop's last "
            "window ends, at latenessCostPerSecond per second late (early arrivals still "
            "wait). Default false (hard windows: a stop no courier can reach in time is "
            "unassigned)."
        ),
    ] = False
    lateness_cost_per_second: Annotated[
        float,
        Field(
            ge=0,
            le=1000,
            allow_inf_nan=False,
            description="With softTimeWindows: objective cost of one second late, in metres "
            "of driving (0-1000). Default 10.",
        ),
    ] = 10.0
    keep_previous_couriers: Annotated[
        bool,
        Field(
            description=(
                "With previousPlan: each stop of the previous plan stays with the courier that "
                "had it (its place in the route may change; it is unassigned only if it no longer "
                "fits), and only new stops may go to any courier, so a re-plan moves nothing "
                "between couriers. Ignored without previousPlan. Default false: the search may "
                "move any uncommitted stop."
            ),
        ),
    ] = False


def _matrix_shape(rows: Any) -> Any:
    """Cheap checks before pydantic parses every cell: a square list of lists, at most
    MAX_MATRIX_LOCATIONS wide, of non-negative finite numbers or nulls (the first bad cell is
    named). Cells that are not numbers are left to the type check, which names each."""
    if not isinstance(rows, list):
        return rows
    size = len(rows)
    if size > MAX_MATRIX_LOCATIONS:
        raise ValueError(f"{size} rows exceed the limit of {MAX_MATRIX_LOCATIONS} locations")
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            raise ValueError(f"row [{i}] is not a list")
        if len(row) != size:
            raise ValueError(f"row [{i}] has {len(row)} entries; the matrix is square ({size})")
    if size == 0:
        return rows
    try:
        values = np.array(rows, dtype=np.float64)  # null -> nan (unreachable)
    except (TypeError, ValueError):
        return rows  # not all numbers: the per-cell type check says which
    bad = np.isinf(values) | (values < 0)
    if bad.any():
        i, j = (int(x) for x in np.argwhere(bad)[0])
        raise ValueError(f"[{i}][{j}] is {rows[i][j]!r}: entries are finite, >= 0, or null")
    return rows


MatrixRows = Annotated[
    list[list[Annotated[float, Field(strict=True)] | None]], BeforeValidator(_matrix_shape)
]


class Matrix(ApiModel):
    """Road-network costs over [origin, stops..., couriers...]; null = unreachable."""

    durations: Annotated[
        MatrixRows | None,
        Field(
            description="Travel seconds (no service time) from row to column location, "
            "locations in the order origin, stops, couriers; null = unreachable. "
            "Absent: distance / speedKmh."
        ),
    ] = None
    distances: Annotated[
        MatrixRows | None,
        Field(
            description="Metres from row to column location, same order; null = unreachable. "
            "Absent: haversine."
        ),
    ] = None

    @model_validator(mode="after")
    def _some(self) -> Matrix:
        if self.durations is None and self.distances is None:
            raise ValueError("give durations, distances or both")
        if (
            self.durations is not None
            and self.distances is not None
            and len(self.durations) != len(self.distances)
        ):
            raise ValueError(
                f"durations is {len(self.durations)} wide but distances "
                f"{len(self.distances)}: both cover the same locations"
            )
        return self

    def size(self) -> int:
        rows = self.durations if self.durations is not None else self.distances
        return len(rows or [])


class PlanRoute(ApiModel):
    """One route of a previous answer; its other fields (totals, visits) are ignored."""

    model_config = ConfigDict(**{**ApiModel.model_config, "extra": "ignore"})

    courier_id: Annotated[ObjectId, Field(description="The route's courier.")]
    stops: Annotated[
        list[ObjectId],
        Field(max_length=MAX_STOPS_INLINE, description="Its stop ids in visit order."),
    ]


class PreviousPlan(ApiModel):
    """A previous answer (as POST /route returned it) or just its routes: a warm start."""

    model_config = ConfigDict(**{**ApiModel.model_config, "extra": "ignore"})

    routes: Annotated[
        list[PlanRoute],
        Field(
            max_length=MAX_COURIERS_INLINE * 10,
            description="Routes of the previous plan: the search starts from them (stops "
            "no longer in the problem are skipped, new ones inserted where they cost least) "
            "and the answer's changes say which stops changed courier.",
        ),
    ]


PREVIOUS_PLAN = (
    "Re-planning: a previous answer (or {routes: [{courierId, stops}]}) as the warm start; "
    "the answer's changes list the stops whose courier differs from it."
)


def check_replanning(stops: list[Stop], couriers: list[Courier]) -> None:
    """Committed stops exist, are committed once, and fit with the load on board."""
    demand = {s.id or str(i): s.demand for i, s in enumerate(stops)}
    owner: dict[str, str] = {}
    for k, c in enumerate(couriers):
        for j, sid in enumerate(c.committed):
            if sid not in demand:
                raise ValueError(f"couriers[{k}].committed[{j}]: no stop has id {sid!r}")
            if sid in owner:
                raise ValueError(
                    f"couriers[{k}].committed[{j}]: stop {sid!r} is already committed to "
                    f"courier {owner[sid]!r}"
                )
            owner[sid] = c.id
        need = c.load + sum(demand[sid] for sid in c.committed)
        if need > c.capacity:
            raise ValueError(
                f"couriers[{k}]: load {c.load} + committed demand {need - c.load} exceed "
                f"capacity {c.capacity}"
            )


def _check_unique(items: list[Any], kind: str) -> list[Any]:
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if item.id is None:
            continue
        if item.id in seen:
            raise ValueError(f"{kind}[{i}].id {item.id!r} repeats {kind}[{seen[item.id]}].id")
        seen[item.id] = i
    return items


START_TIME = (
    "Time zero of the plan, RFC 3339 with a zone (e.g. 2026-05-04T08:00:00+01:00): times "
    "given in seconds count from it, RFC 3339 times need it, and the answer's times are "
    "RFC 3339 when it is set (seconds otherwise)."
)


def time_zero(start_time: str | None) -> datetime | None:
    return times.parse_stamp(start_time) if start_time is not None else None


def check_times(start_time: str | None, stops: list[Stop], couriers: list[Courier]) -> None:
    """RFC 3339 times need startTime; with it, seconds and RFC 3339 times are compared too."""
    zero = time_zero(start_time)
    spans: list[tuple[str, list[tuple[int | str, int | str]]]] = []
    for i, s in enumerate(stops):
        spans.append((f"stops[{i}].timeWindows", [(w.start, w.end) for w in s.time_windows]))
    for i, c in enumerate(couriers):
        if c.shift is not None:
            spans.append((f"couriers[{i}].shift", [(c.shift.start, c.shift.end)]))
        spans.append((f"couriers[{i}].breaks", [(b.start, b.end) for b in c.breaks]))
    for path, pairs in spans:
        for j, (start, end) in enumerate(pairs):
            where = f"{path}[{j}]" if path.endswith(("timeWindows", "breaks")) else path
            for name, value in (("start", start), ("end", end)):
                if isinstance(value, str) and zero is None:
                    raise ValueError(
                        f"{where}.{name} is an RFC 3339 time: set startTime (time zero) "
                        "or give seconds"
                    )
            if zero is None:
                continue
            a, b = times.to_seconds(start, zero), times.to_seconds(end, zero)
            if b < a:
                raise ValueError(f"{where}: end is before its start")
            if j > 0 and a < times.to_seconds(pairs[j - 1][1], zero):
                raise ValueError(f"{where} starts before the window before it ends")


class Problem(ApiModel):
    """A routing problem. Stop ids default to their positions ("0", "1", ...)."""

    origin: Annotated[Location, Field(description=ORIGIN)]
    stops: Annotated[
        list[Stop],
        Field(
            min_length=1,
            description="Stops to deliver to: at least 1, ids unique (the routing service "
            "caps the count).",
        ),
    ]
    couriers: Annotated[
        list[Courier],
        Field(min_length=1, description="Couriers, one route each: at least 1, ids unique."),
    ]
    start_time: Annotated[Stamp | None, Field(description=START_TIME)] = None
    options: Annotated[RoutingOptions, Field(description="How the solver searches.")] = (
        RoutingOptions()
    )
    matrix: Annotated[
        Matrix | None,
        Field(
            description="Road-network travel costs (e.g. from `logistica matrix` and OSRM) "
            "instead of haversine: square, 1 + stops + couriers wide."
        ),
    ] = None
    previous_plan: Annotated[PreviousPlan | None, Field(description=PREVIOUS_PLAN)] = None

    @model_validator(mode="after")
    def _times_resolve(self) -> Problem:
        check_times(self.start_time, self.stops, self.couriers)
        return self

    @field_validator("stops")
    @classmethod
    def _unique_stops(cls, stops: list[Stop]) -> list[Stop]:
        return _check_unique(stops, "stops")

    @field_validator("couriers")
    @classmethod
    def _unique_couriers(cls, couriers: list[Courier]) -> list[Courier]:
        return _check_unique(couriers, "couriers")

    def _check_matrix(self, matrix: Matrix) -> None:
        want = 1 + len(self.stops) + len(self.couriers)
        if matrix.size() != want:
            raise ValueError(
                f"matrix is {matrix.size()} x {matrix.size()}; it must be {want} x {want} "
                f"(origin + {len(self.stops)} stops + {len(self.couriers)} couriers)"
            )
        at = {sid: 1 + i for i, sid in enumerate(self.stop_ids())}
        for k, c in enumerate(self.couriers):
            path = [1 + len(self.stops) + k] + [at[sid] for sid in c.committed if sid in at]
            for a, b in itertools.pairwise(path):
                for name, rows in (
                    ("durations", matrix.durations),
                    ("distances", matrix.distances),
                ):
                    if rows is not None and rows[a][b] is None:
                        raise ValueError(
                            f"couriers[{k}].committed: matrix.{name}[{a}][{b}] is null, but "
                            "the courier drives that leg to its committed stops"
                        )

    @model_validator(mode="after")
    def _replanning(self) -> Problem:
        check_replanning(self.stops, self.couriers)
        return self

    @model_validator(mode="after")
    def _matrix_size(self) -> Problem:
        if self.matrix is not None:
            self._check_matrix(self.matrix)
        return self

    def with_matrix(self, matrix: Matrix) -> Problem:
        """This problem with ``matrix`` (a RoutingJob's matrixFrom); ValueError if its size
        does not fit."""
        self._check_matrix(matrix)
        return self.model_copy(update={"matrix": matrix})

    @model_validator(mode="after")
    def _default_ids(self) -> Problem:
        if any(s.id is None for s in self.stops):
            taken = {s.id for s in self.stops}
            stops = []
            for i, s in enumerate(self.stops):
                if s.id is None:
                    if str(i) in taken:
                        raise ValueError(
                            f"stops[{i}] has no id and its default id {str(i)!r} is taken"
                        )
                    s = s.model_copy(update={"id": str(i)})
                stops.append(s)
            object.__setattr__(self, "stops", stops)
        return self

    def stop_ids(self) -> list[str]:
        return [s.id or str(i) for i, s in enumerate(self.stops)]


class InlineProblem(ApiModel):
    """``spec.problem`` of a RoutingJob: ids required, options live in ``spec.options``."""

    origin: Annotated[
        Location,
        Field(description=ORIGIN),
    ]
    stops: Annotated[
        list[Stop],
        Field(
            min_length=1,
            max_length=MAX_STOPS_INLINE,
            description="Stops to deliver to: 1-2000, each with a unique id.",
        ),
    ]
    couriers: Annotated[
        list[Courier],
        Field(
            min_length=1,
            max_length=MAX_COURIERS_INLINE,
            description="Couriers, one route each: 1-200, each with a unique id.",
        ),
    ]
    start_time: Annotated[Stamp | None, Field(description=START_TIME)] = None

    previous_plan: Annotated[PreviousPlan | None, Field(description=PREVIOUS_PLAN)] = None

    @model_validator(mode="after")
    def _times_resolve(self) -> InlineProblem:
        check_times(self.start_time, self.stops, self.couriers)
        return self

    @model_validator(mode="after")
    def _replanning(self) -> InlineProblem:
        check_replanning(self.stops, self.couriers)
        return self

    @field_validator("stops")
    @classmethod
    def _stop_ids(cls, stops: list[Stop]) -> list[Stop]:
        for i, s in enumerate(stops):
            if s.id is None:
                raise ValueError(f"stops[{i}].id is required in a RoutingJob")
        return _check_unique(stops, "stops")

    @field_validator("couriers")
    @classmethod
    def _unique_couriers(cls, couriers: list[Courier]) -> list[Courier]:
        return _check_unique(couriers, "couriers")


ConfigMapName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN,
        description="Name of the ConfigMap, in the RoutingJob's namespace.",
    ),
]
ConfigMapKey = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")]


class ConfigMapKeyRef(ApiModel):
    name: ConfigMapName
    key: Annotated[
        ConfigMapKey,
        Field(
            description="Key whose value is the problem JSON, as POST /route takes it "
            "(stop ids default to positions; spec.options replace its options): text under "
            "data, or bytes under binaryData, gzip-compressed or not.",
        ),
    ]


class ProblemFrom(ApiModel):
    config_map_key_ref: Annotated[
        ConfigMapKeyRef, Field(description="The ConfigMap key that holds the problem JSON.")
    ]


class MatrixKeyRef(ApiModel):
    name: ConfigMapName
    key: Annotated[
        ConfigMapKey,
        Field(
            description="Key whose value is the matrix JSON, as a problem's matrix field "
            "takes it ({durations, distances}, e.g. the output of `logistica matrix -o`): text "
            "under data, or bytes under binaryData, gzip-compressed or not.",
        ),
    ]


class MatrixFrom(ApiModel):
    config_map_key_ref: Annotated[
        MatrixKeyRef, Field(description="The ConfigMap key that holds the matrix JSON.")
    ]


class RoutingJobSpec(ApiModel):
    problem: Annotated[
        InlineProblem | None,
        Field(
            description="The problem inline. Exactly one of problem and problemFrom. "
            "Immutable once created."
        ),
    ] = None
    problem_from: Annotated[
        ProblemFrom | None,
        Field(
            description="Read the problem JSON from a ConfigMap key instead (large inputs); "
            "the RoutingJob stays Pending until the key exists. Exactly one of problem and "
            "problemFrom. Immutable."
        ),
    ] = None
    matrix_from: Annotated[
        MatrixFrom | None,
        Field(
            description="Road-network travel costs from a ConfigMap key instead of haversine "
            "(locations: origin, stops, couriers); the RoutingJob stays Pending until the key "
            "exists. A problemFrom problem may carry its matrix inline instead. Immutable."
        ),
    ] = None
    options: Annotated[
        RoutingOptions,
        Field(description="How the solver searches; also applies to a problemFrom problem."),
    ] = RoutingOptions()
    active_deadline_seconds: Annotated[
        Annotated[int, Field(ge=1, le=86400, strict=True)] | None,
        Field(
            description="Hard deadline of the solver Job, seconds (1-86400). "
            "Default: 2 x timeLimitSeconds + 120."
        ),
    ] = None
    ttl_seconds_after_finished: Annotated[
        Annotated[int, Field(ge=0, le=31_536_000, strict=True)] | None,
        Field(
            description="Delete the RoutingJob (and its Job) this many seconds after it "
            "finished (0-31536000). Unset: kept."
        ),
    ] = None
    suspend: Annotated[
        bool,
        Field(
            description="Stop (or do not start) the solve: a running solve stops and keeps "
            "its best routes (partial: true); setting it back to false solves again from "
            "the start. Default false."
        ),
    ] = False

    @model_validator(mode="after")
    def _one_source(self) -> RoutingJobSpec:
        if (self.problem is None) == (self.problem_from is None):
            raise ValueError("exactly one of spec.problem and spec.problemFrom must be set")
        return self

    def inline_problem(self) -> Problem | None:
        """The inline problem with this spec's options, as the solver takes it."""
        if self.problem is None:
            return None
        return Problem(
            origin=self.problem.origin,
            stops=self.problem.stops,
            couriers=self.problem.couriers,
            start_time=self.problem.start_time,
            previous_plan=self.problem.previous_plan,
            options=self.options,
        )


class Visit(ApiModel):
    """One stop of a route, as the plan expects it to happen."""

    stop_id: str
    arrival: Annotated[int | str, Field(description="When the courier reaches the stop.")]
    departure: Annotated[
        int | str, Field(description="When it leaves: service start + serviceSeconds.")
    ]
    wait_seconds: Annotated[int, Field(description="Seconds waited for the stop's window to open.")]
    load_after: Annotated[int, Field(description="Units delivered so far on this route.")]


class TakenBreak(ApiModel):
    start: Annotated[int | str, Field(description="When the break starts.")]
    end: Annotated[int | str, Field(description="When it ends.")]


class RouteResult(ApiModel):
    courier_id: str
    stops: list[str]
    distance_meters: float
    duration_seconds: float
    load: int
    start: Annotated[
        int | str | None, Field(description="When the courier leaves its position.")
    ] = None
    end: Annotated[
        int | str | None,
        Field(description="When the route ends: the last departure, or back at the origin."),
    ] = None
    visits: list[Visit] = []
    breaks: Annotated[
        list[TakenBreak], Field(description="The courier's breaks on this route, in order.")
    ] = []


class Change(ApiModel):
    """A stop whose courier differs from the previous plan's (null: unassigned)."""

    stop_id: str
    from_: Annotated[
        str | None, Field(alias="from", description="Its courier in the previous plan.")
    ]
    to: Annotated[str | None, Field(description="Its courier now.")]


class UnassignedReason(ApiModel):
    stop_id: str
    reason: Annotated[
        Literal["capacity", "timeWindow", "shift", "unreachable"],
        Field(
            description="capacity: no courier has room for it in this plan; timeWindow: no "
            "courier reaches it inside a window even alone; shift: it fits a window but no "
            "courier's shift (or maxRouteSeconds); unreachable: no path to it."
        ),
    ]


class SolverInfo(ApiModel):
    engine: str
    status: str
    wall_seconds: float
    solutions: int


class Solution(ApiModel):
    routes: list[RouteResult]
    unassigned: list[str]
    unassigned_reasons: list[UnassignedReason] = []
    total_distance_meters: float
    total_duration_seconds: float
    objective: float
    partial: bool
    solver: SolverInfo
    changes: Annotated[
        list[Change],
        Field(description="Re-planning: stops whose courier differs from previousPlan's."),
    ] = []
