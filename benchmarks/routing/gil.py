"""Does a PyVRP thread progress while OR-Tools solves on another thread of the same process?

PyVRP (seed 2) searches a generated 1,000-stop city problem on a thread for 9 s; after 1 s the
main thread solves the same instance with OR-Tools for 5 s (our model, from its own
construction). Prints PyVRP's iterations per second during the OR-Tools solve. Modes:
``alone`` (no OR-Tools), ``plain`` (OR-Tools as is), ``custom`` (with a Python limit check,
``CustomLimit``, as ``engines.run_ortools`` adds); the second argument is
``sys.setswitchinterval`` (default 0.005 s).

Usage: python benchmarks/routing/gil.py alone|plain|custom [switch-interval-seconds]
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pyvrp
from city import generate

from logistica_workers.api import Problem
from logistica_workers.routing import instance, pyvrp_model
from logistica_workers.routing.ortools_model import OrToolsModel


def main() -> int:
    mode = sys.argv[1] if len(sys.argv) > 1 else "custom"
    if mode not in ("alone", "plain", "custom"):
        sys.exit(f"mode must be alone, plain or custom, got {mode!r}")
    sys.setswitchinterval(float(sys.argv[2]) if len(sys.argv) > 2 else 0.005)
    inst = instance.from_problem(Problem.model_validate(generate(1000, "plentiful", 1)), 12.0)
    data = pyvrp_model.build(inst)
    params = pyvrp_model.solve_params(inst)
    stamps: list[float] = []
    t_end = time.monotonic() + 9

    def stop(_cost: float) -> bool:
        stamps.append(time.monotonic())
        return time.monotonic() > t_end

    seed2 = threading.Thread(
        target=lambda: pyvrp.solve(data, stop, seed=2, collect_stats=False, params=params)
    )
    seed2.start()
    time.sleep(1.0)  # PyVRP under way
    calls = [0]

    def check() -> bool:
        calls[0] += 1
        return False

    a = time.monotonic()
    if mode == "alone":
        time.sleep(5.0)
    else:
        model = OrToolsModel(inst)
        if mode == "custom":
            model.routing.AddSearchMonitor(model.routing.solver().CustomLimit(check))
        model.routing.SolveWithParameters(model.params(5.0))
    b = time.monotonic()
    seed2.join()
    during = sum(1 for s in stamps if a <= s <= b)
    result = {
        "mode": mode,
        "switch_interval_s": sys.getswitchinterval(),
        "ortools_seconds": round(b - a, 2),
        "pyvrp_iterations_per_s_during": round(during / (b - a), 1),
        "limit_checks": calls[0],
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
