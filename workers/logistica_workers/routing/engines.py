"""The search engines. Each runs in its own process and streams every improving solution to
the parent through ``report``; the parent keeps the best, so a killed engine loses nothing.

- ``pyvrp``: PyVRP's iterated local search on our model without the arrival term
  (pyvrp_model.py); its own construction, so every size gets a feasible plan. Breaks it sees
  through break copies of the stops (``pyvrp_model.break_kinds``); a route that still cannot
  fit its breaks (or every route, with ``pyvrp_breaks=False`` or too many kinds of break) loses
  the stops that keep it from fitting them (``repair.make_feasible``).
- ``hybrid``: PyVRP for a share of the budget (less if it converges), then OR-Tools
  warm-started from PyVRP's best routes optimises the full objective incl. the arrival term.
- ``ortools``: OR-Tools alone from one of its constructions (kept for comparison).

Every engine stops at its time limit, on SIGTERM, or when it has converged (no improvement for
``patience`` seconds; tiny problems: a fixed number of fruitless iterations).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from logistica_workers.routing.evaluate import Routes
from logistica_workers.routing.instance import Instance
from logistica_workers.routing.polish import polish, untimed
from logistica_workers.routing.repair import make_feasible

if TYPE_CHECKING:
    import pyvrp

Report = Callable[[Routes], None]

TINY_STOPS = 12  # at most this many stops: searches end after fruitless iterations, not time
TINY_ITERATIONS = 500
PATIENCE_SHARE = 0.5  # no improvement for this share of the budget = converged
PATIENCE_FLOOR = 0.2  # seconds
PATIENCE_PER_STOP = 0.01  # ... but no longer than this per stop (small problems answer fast)
PATIENCE_LIMIT_SHARE = 0.25  # ... plus this share of the budget (a long budget outlasts plateaus)
PATIENCE_GROWTH = 0.5  # ... and at least this share of the time the search kept improving
TINY_PATIENCE = 0.1
POLISH_BASE_SECONDS = 0.02  # kept at the end of a PyVRP search to polish its best routes...
POLISH_SECONDS_PER_STOP = 0.0003  # ... plus this per stop (measured: 0.6 s at 2,000 stops)
POLISH_STOPPED_SECONDS = 0.1  # ... but no more than this once asked to stop at the limit


@dataclass(frozen=True)
class EngineConfig:
    engine: str  # "hybrid" | "pyvrp" | "ortools"
    first_solution: str = "PARALLEL_CHEAPEST_INSERTION"
    metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    seed: int = 1
    pyvrp_share: float = 0.5  # hybrid: PyVRP's share of the budget
    initial: tuple[tuple[int, ...], ...] | None = None  # ortools: start from these routes
    pyvrp_breaks: bool = True  # PyVRP models breaks (False: plans without, then repairs)
    neighbours: int | None = None  # PyVRP's granular neighbourhood size (None: its default)

    @property
    def label(self) -> str:
        pyvrp = f"pyvrp(seed={self.seed}" + (
            f",neighbours={self.neighbours})" if self.neighbours is not None else ")"
        )
        if self.engine == "pyvrp":
            return pyvrp
        if self.engine == "hybrid":
            return f"{pyvrp}+ortools({self.metaheuristic})"
        if self.initial is not None:
            return f"ortools(warm start,{self.metaheuristic})"
        return f"ortools({self.first_solution},{self.metaheuristic})"


class StopFlag:
    """Set by SIGTERM in an engine process; engines poll it where they can. An engine on a
    thread of its own (``threads.ThreadEngine``) has an event of its own in ``local``."""

    stopped = False
    local = threading.local()

    @classmethod
    def is_set(cls) -> bool:
        event: threading.Event | None = getattr(cls.local, "event", None)
        return cls.stopped or (event is not None and event.is_set())

    @classmethod
    def install(cls) -> None:
        cls.stopped = False

        def handler(_sig: int, _frame: object) -> None:
            cls.stopped = True

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides


class Hooks:
    """Set by the engine process (``phase``) or engine thread (``local.phase``): tells the
    portfolio a new search phase starts."""

    phase: Callable[[str], None] = staticmethod(lambda _name: None)
    local = threading.local()

    @classmethod
    def new_phase(cls, name: str) -> None:
        hook: Callable[[str], None] = getattr(cls.local, "phase", None) or cls.phase
        hook(name)

    @classmethod
    def handover(cls, routes: Routes | None) -> Routes | None:
        """The plan ``hybrid``'s OR-Tools phase starts from: its own PyVRP phase's, or (an
        engine thread of a lean portfolio) the best of the PyVRP threads beside it, which
        stop then (``Portfolio._handover``)."""
        hook: Callable[[Routes | None], Routes | None] | None
        hook = getattr(cls.local, "handover", None)
        return hook(routes) if hook is not None else routes


def patience(time_limit: float, n_stops: int, limit_share: float = PATIENCE_LIMIT_SHARE) -> float:
    """Seconds without improvement after which a search counts as converged (at least: see
    ``converged``)."""
    if n_stops <= TINY_STOPS:
        return TINY_PATIENCE
    scaled = PATIENCE_PER_STOP * n_stops + limit_share * time_limit
    return max(PATIENCE_FLOOR, min(PATIENCE_SHARE * time_limit, scaled))


def converged(now: float, started: float, last_gain: float, patience_s: float) -> bool:
    """No gain for ``patience_s`` seconds, nor for ``PATIENCE_GROWTH`` times as long as the
    search went on improving: one still finding gains late waits longer for the next."""
    return now - last_gain >= max(patience_s, PATIENCE_GROWTH * (last_gain - started))


class _PyvrpStop:
    """PyVRP stopping criterion: deadline, SIGTERM, or convergence."""

    def __init__(self, time_limit: float, tiny: bool, patience_s: float) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + time_limit
        self.tiny = tiny
        self.patience = patience_s
        self.best = float("inf")
        self.last_gain = time.monotonic()
        self.fruitless = 0

    def __call__(self, best_cost: float) -> bool:
        now = time.monotonic()
        if best_cost < self.best:
            self.best, self.last_gain, self.fruitless = best_cost, now, 0
        else:
            self.fruitless += 1
        if StopFlag.is_set() or now >= self.deadline:
            return True
        if self.tiny:
            return self.fruitless >= TINY_ITERATIONS
        return converged(now, self.started, self.last_gain, self.patience)


def polish_reserve(inst: Instance, time_limit: float) -> float:
    """Seconds a PyVRP search leaves at its end for ``polish`` (0 where polish does nothing)."""
    if not untimed(inst):
        return 0.0
    return min(0.25 * time_limit, POLISH_BASE_SECONDS + POLISH_SECONDS_PER_STOP * inst.n_stops)


def run_pyvrp(
    inst: Instance, cfg: EngineConfig, report: Report, time_limit: float
) -> Routes | None:
    """PyVRP, streaming each new feasible best; returns the best routes (None if none), last
    reordered for the full objective (``polish.py``: PyVRP does not see the arrival term).
    The search stops early enough for that polish to fit in ``time_limit``, and converges a
    polish earlier than the portfolio would, so the polished plan still reaches it."""
    began = time.monotonic()  # the budget counts from here: building the model is in it
    from logistica_workers.routing import pyvrp_model

    with pyvrp_model.shared_data(inst, cfg.pyvrp_breaks) as data:
        return _search_pyvrp(inst, cfg, report, time_limit, data, began)


def _search_pyvrp(
    inst: Instance,
    cfg: EngineConfig,
    report: Report,
    time_limit: float,
    data: pyvrp.ProblemData,
    began: float,
) -> Routes | None:
    import pyvrp

    from logistica_workers.routing import pyvrp_model

    stop_of = pyvrp_model.stop_of_clients(inst, cfg.pyvrp_breaks)

    def ours(sol: pyvrp.Solution) -> Routes:
        """PyVRP solves a restriction of our model, except where it cannot see a break: a
        route that cannot fit one loses stops until it can."""
        routes = pyvrp_model.routes_of(inst, sol, stop_of)
        return make_feasible(inst, routes) if any(inst.breaks) else routes

    params = pyvrp_model.solve_params(inst, cfg.pyvrp_breaks, cfg.neighbours)
    best: list[Routes] = []

    class Callbacks(pyvrp.IteratedLocalSearchCallbacks):
        def on_start(self, ils: pyvrp.IteratedLocalSearch) -> None:
            self.on_best(ils.initial_solution)  # PyVRP's construction: a plan at once

        def on_best(self, sol: pyvrp.Solution) -> None:
            if sol.is_feasible():
                best[:] = [ours(sol)]
                report(best[0])

    params.ils.callbacks = Callbacks()
    reserve = polish_reserve(inst, time_limit)
    wait = patience(time_limit, inst.n_stops)
    search = max(0.01, time_limit - reserve - (time.monotonic() - began))
    stop = _PyvrpStop(search, inst.n_stops <= TINY_STOPS, max(wait / 2, wait - reserve))
    result = pyvrp.solve(data, stop, seed=cfg.seed, collect_stats=False, params=params)
    routes = ours(result.best) if result.best.is_feasible() else (best[0] if best else None)
    if routes is None:
        return None
    if reserve > 0:
        left = began + time_limit - time.monotonic()  # stopped early (converged): the reserve
        budget = reserve if not StopFlag.is_set() else max(POLISH_STOPPED_SECONDS, left)
        routes = polish(inst, routes, min(reserve, budget))
    if not best or routes != best[0]:
        report(routes)
    return routes


def solve_pyvrp(inst: Instance, cfg: EngineConfig, report: Report, time_limit: float) -> str:
    return "SUCCESS" if run_pyvrp(inst, cfg, report, time_limit) is not None else "INFEASIBLE"


def run_ortools(
    inst: Instance,
    cfg: EngineConfig,
    report: Report,
    time_limit: float,
    initial: Routes | None = None,
) -> str:
    from logistica_workers.routing.ortools_model import OrToolsModel, status_name

    started = time.monotonic()
    model = OrToolsModel(inst)
    routing = model.routing
    best = [float("inf")]

    def on_solution() -> None:
        cost = routing.CostVar().Value()
        if cost < best[0]:
            best[0] = cost
            report(model.routes())
        if StopFlag.is_set():
            routing.solver().FinishCurrentSearch()

    routing.AddAtSolutionCallback(on_solution)
    # OR-Tools holds the GIL while it searches; at each limit check it calls this, so a stop
    # request is seen at once (not at the next solution, which may be seconds away), and the
    # interpreter hands the GIL to other threads there (a PyVRP engine, the portfolio's
    # supervisor, a signal handler): see threads.py
    routing.AddSearchMonitor(routing.solver().CustomLimit(StopFlag.is_set))
    left = max(0.01, time_limit - (time.monotonic() - started))
    params = model.params(left, cfg.first_solution, cfg.metaheuristic)
    if initial is not None:
        start = model.assignment_from(initial, params)
        if start is not None:
            solution = routing.SolveFromAssignmentWithParameters(start, params)
            return status_name(int(routing.status()), solution is not None)
    solution = routing.SolveWithParameters(params)
    return status_name(int(routing.status()), solution is not None)


def solve_ortools(inst: Instance, cfg: EngineConfig, report: Report, time_limit: float) -> str:
    initial = [list(r) for r in cfg.initial] if cfg.initial is not None else None
    return run_ortools(inst, cfg, report, time_limit, initial)


def pyvrp_sees_all(inst: Instance) -> bool:
    """Whether PyVRP's model is the whole objective: classic CVRP, or our model without an
    arrival term (every priority 0), soft windows, breaks or a stop with several windows.
    Then an OR-Tools phase could only repeat PyVRP's search with a weaker one."""
    if inst.kind != "logistics":
        return True
    return (
        not inst.priority[: inst.n_stops].any()
        and not inst.soft_windows
        and not any(inst.breaks)
        and all(len(w) <= 1 for w in inst.windows)
    )


def solve_hybrid(inst: Instance, cfg: EngineConfig, report: Report, time_limit: float) -> str:
    """PyVRP for ``pyvrp_share`` of the budget, then OR-Tools from its routes on the full
    objective; PyVRP alone for the whole budget when it sees the whole objective."""
    started = time.monotonic()
    share = 1.0 if pyvrp_sees_all(inst) else cfg.pyvrp_share
    routes = run_pyvrp(inst, cfg, report, time_limit * share)
    left = time_limit - (time.monotonic() - started)
    if StopFlag.is_set() or left <= 0.05 or share >= 1.0:
        return "SUCCESS" if routes is not None else "INFEASIBLE"
    Hooks.new_phase("ortools")
    routes = Hooks.handover(routes)
    left = time_limit - (time.monotonic() - started)
    status = run_ortools(inst, cfg, report, max(0.01, left), routes)
    return "SUCCESS" if routes is not None and status not in ("SUCCESS", "OPTIMAL") else status


ENGINES = {"ortools": solve_ortools, "pyvrp": solve_pyvrp, "hybrid": solve_hybrid}
