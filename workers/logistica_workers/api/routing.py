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


class Location(ApiModel):
    lat: Lat
    lng: Lng


class Stop(ApiModel):
    id: ObjectId | None = None
    lat: Lat
    lng: Lng
    priority: Annotated[int, Field(ge=0, le=100, strict=True)]
    demand: Annotated[int, Field(ge=0, le=1_000_000, strict=True)] = 1
    service_seconds: Annotated[int, Field(ge=0, le=86400, strict=True)] = 0


class Courier(ApiModel):
    id: ObjectId
    lat: Lat
    lng: Lng
    capacity: Annotated[int, Field(ge=1, le=1_000_000, strict=True)]


class RoutingOptions(ApiModel):
    time_limit_seconds: Annotated[int, Field(ge=1, le=3600, strict=True)] = 30
    return_to_origin: bool = False
    speed_kmh: Annotated[float, Field(gt=0, le=200, allow_inf_nan=False)] = 30.0


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

    origin: Location
    stops: Annotated[list[Stop], Field(min_length=1)]
    couriers: Annotated[list[Courier], Field(min_length=1)]
    options: RoutingOptions = RoutingOptions()

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

    origin: Location
    stops: Annotated[list[Stop], Field(min_length=1, max_length=MAX_STOPS_INLINE)]
    couriers: Annotated[list[Courier], Field(min_length=1, max_length=MAX_COURIERS_INLINE)]

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
    name: Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
    key: Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")]


class ProblemFrom(ApiModel):
    config_map_key_ref: ConfigMapKeyRef


class RoutingJobSpec(ApiModel):
    problem: InlineProblem | None = None
    problem_from: ProblemFrom | None = None
    options: RoutingOptions = RoutingOptions()
    active_deadline_seconds: Annotated[int, Field(ge=1, le=86400, strict=True)] | None = None
    ttl_seconds_after_finished: Annotated[int, Field(ge=0, le=31_536_000, strict=True)] | None = (
        None
    )
    suspend: bool = False

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
