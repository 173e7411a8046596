"""Routing problem, options, RoutingJob spec and the solution, as JSON and as CRD fields."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from logistica_workers.api.common import DNS_SUBDOMAIN, OBJECT_ID, ApiModel

Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Lng = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
ObjectId = Annotated[str, Field(min_length=1, max_length=64, pattern=OBJECT_ID)]

MAX_STOPS_INLINE = 2000  # CRD limit for spec.problem; larger problems use problemFrom
MAX_COURIERS_INLINE = 200
ORIGIN = "Pickup point (depot); every courier drives here and loads first."


class Location(ApiModel):
    lat: Annotated[Lat, Field(description="Latitude, degrees (-90 to 90).")]
    lng: Annotated[Lng, Field(description="Longitude, degrees (-180 to 180).")]


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
            gt=0,
            le=200,
            allow_inf_nan=False,
            description="Courier speed, km/h (above 0, at most 200): travel time is "
            "haversine distance / speed. Default 30.",
        ),
    ] = 30.0


def _check_unique(items: list[Any], kind: str) -> list[Any]:
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if item.id is None:
            continue
        if item.id in seen:
            raise ValueError(f"{kind}[{i}].id {item.id!r} repeats {kind}[{seen[item.id]}].id")
        seen[item.id] = i
    return items


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
    options: Annotated[RoutingOptions, Field(description="How the solver searches.")] = (
        RoutingOptions()
    )

    @field_validator("stops")
    @classmethod
    def _unique_stops(cls, stops: list[Stop]) -> list[Stop]:
        return _check_unique(stops, "stops")

    @field_validator("couriers")
    @classmethod
    def _unique_couriers(cls, couriers: list[Courier]) -> list[Courier]:
        return _check_unique(couriers, "couriers")

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


class ConfigMapKeyRef(ApiModel):
    name: Annotated[
        str,
        Field(
            min_length=1,
            max_length=253,
            pattern=DNS_SUBDOMAIN,
            description="Name of the ConfigMap, in the RoutingJob's namespace.",
        ),
    ]
    key: Annotated[
        str,
        Field(
            min_length=1,
            max_length=253,
            pattern=r"^[-._a-zA-Z0-9]+$",
            description="Key whose value is the problem JSON, as POST /route takes it "
            "(stop ids default to positions; spec.options replace its options).",
        ),
    ]


class ProblemFrom(ApiModel):
    config_map_key_ref: Annotated[
        ConfigMapKeyRef, Field(description="The ConfigMap key that holds the problem JSON.")
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
            options=self.options,
        )


class RouteResult(ApiModel):
    courier_id: str
    stops: list[str]
    distance_meters: float
    duration_seconds: float
    load: int


class SolverInfo(ApiModel):
    engine: str
    status: str
    wall_seconds: float
    solutions: int


class Solution(ApiModel):
    routes: list[RouteResult]
    unassigned: list[str]
    total_distance_meters: float
    total_duration_seconds: float
    objective: float
    partial: bool
    solver: SolverInfo
