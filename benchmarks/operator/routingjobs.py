"""Operator scale, RoutingJobs: N created at once under a solver concurrency of 4.

Per run (one operator, a fresh control plane): create N small RoutingJobs (16 client threads),
wait until 4 run and N-4 are Queued, then count the API requests the server receives over a
window while nothing finishes (kube-apiserver's ``apiserver_request_total``; the only client then
is the operator: the stand-in solver is paused; the server's own lease and endpoint upkeep is
reported apart),
and the operator's RSS; then let the stand-in solver (benchmarks/operator/fake_solver.py) finish
Jobs and time until every RoutingJob is Succeeded.

``--variant new`` runs this tree's operator; ``--variant base`` the operator of ``--base-ref``
(default: the merge-base with main, i.e. before this branch), extracted with ``git archive``
and put first on PYTHONPATH. Run the variants interleaved, one run per invocation (each ≤ 5 min):

    for v in new base; do
      flock /tmp/logistica-heavy.lock python benchmarks/operator/routingjobs.py --variant $v
    done
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from kubernetes import client

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the test platform lives in tests/
from benchmarks.operator.common import (
    SERVER_OWN,
    base_ref,
    baseline_tree,
    cpu_seconds,
    requests_by_resource,
    rss_mb,
)
from benchmarks.operator.fake_solver import FakeSolver

from tests.e2e.operator_harness import OperatorProcess
from tests.platform.kube import ControlPlane
from tests.platform.kubeclient import api_client, install_crds

HERE = Path(__file__).resolve().parent
GROUP, VERSION = "logistica.dev", "v1alpha1"
PROBLEM = {
    "origin": {"lat": 52.52, "lng": 13.40},
    "stops": [{"id": "s0", "lat": 52.53, "lng": 13.41, "priority": 1}],
    "couriers": [{"id": "c0", "lat": 52.52, "lng": 13.40, "capacity": 5}],
}


def phases(api: client.ApiClient, ns: str) -> Counter[str]:
    items = client.CustomObjectsApi(api).list_namespaced_custom_object(
        GROUP, VERSION, ns, "routingjobs"
    )["items"]
    return Counter((i.get("status") or {}).get("phase") or "-" for i in items)


def create_all(api: client.ApiClient, ns: str, n: int) -> None:
    crs = client.CustomObjectsApi(api)

    def one(i: int) -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "RoutingJob",
            "metadata": {"name": f"rj-{i:04d}"},
            "spec": {"problem": PROBLEM, "options": {"timeLimitSeconds": 1}},
        }
        crs.create_namespaced_custom_object(GROUP, VERSION, ns, "routingjobs", body)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(n)))


def wait_for(what: str, check: Any, timeout: float) -> float:
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"{what}: not after {timeout} s")
        time.sleep(0.5)
    return time.monotonic() - t0


def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="operator-rj-bench-"))
    env: dict[str, str] = {}
    ref = base_ref(args.base_ref)
    if args.variant == "base":
        (root / "base").mkdir()
        env = baseline_tree(ref, root / "base")
    cp = ControlPlane(root / "kube")
    cp.start()
    ns = "bench"
    result: dict[str, Any] = {"variant": args.variant, "routingjobs": args.count}
    if args.variant == "base":
        result["base_ref"] = ref
    result["loadavg_before"] = Path("/proc/loadavg").read_text().split()[:3]
    try:
        api = api_client(cp.kubeconfig)
        install_crds(api)
        client.CoreV1Api(api).create_namespace({"metadata": {"name": ns}})
        ctx = cp.ssl_context()
        solver = FakeSolver(api, ns, delay=args.solve_seconds)
        solver.start()
        op = OperatorProcess(
            cp,
            ns,
            root / "operator.log",
            LOGISTICA_SOLVER_CONCURRENCY=str(args.concurrency),
            LOGISTICA_LOG_LEVEL="WARNING",
            **env,
        )
        op.start()
        assert op.proc is not None
        time.sleep(3)  # let the operator connect before the burst (not part of the timing)
        t0 = time.monotonic()
        create_all(api, ns, args.count)
        result["seconds_to_create"] = round(time.monotonic() - t0, 1)
        waiting = args.count - args.concurrency

        def settled() -> bool:
            p = phases(api, ns)
            return p["Running"] == args.concurrency and p["Queued"] == waiting

        try:
            result["seconds_to_running_and_queued"] = round(
                wait_for("4 Running, the rest Queued", settled, args.settle_timeout), 1
            )
        except TimeoutError:  # measure the waiting anyway, and say how far it got
            result["seconds_to_running_and_queued"] = None
            result[f"phases_after_{args.settle_timeout}s"] = dict(phases(api, ns))
        time.sleep(2)  # the last Queued writes' echoes
        before = requests_by_resource(cp, ctx)
        cpu0 = cpu_seconds(op.proc.pid)
        time.sleep(args.window)
        cpu1 = cpu_seconds(op.proc.pid)
        after = requests_by_resource(cp, ctx)
        result["operator_cpu_percent_while_waiting"] = round(100 * (cpu1 - cpu0) / args.window)
        delta = after - before
        # the API server's own upkeep (its identity lease, the `kubernetes` Service endpoints)
        own = sum(v for k, v in delta.items() if k.split()[1] in SERVER_OWN)
        total = sum(delta.values())
        result["window_seconds"] = args.window
        result["requests_per_second_while_waiting"] = round((total - own) / args.window, 2)
        result["server_own_requests_per_second"] = round(own / args.window, 2)
        result["requests_while_waiting"] = dict(delta.most_common(8))
        result["operator_rss_mb"] = rss_mb(op.proc.pid)
        t1 = time.monotonic()
        solver.resume()

        def drained() -> bool:
            return phases(api, ns)["Succeeded"] == args.count

        try:
            wait_for("all Succeeded", drained, args.drain_timeout)
            result["seconds_to_all_succeeded"] = round(time.monotonic() - t1, 1)
        except TimeoutError:
            p = phases(api, ns)
            result["seconds_to_all_succeeded"] = None
            result[f"succeeded_after_{args.drain_timeout}s"] = p["Succeeded"]
        result["operator_rss_mb_end"] = rss_mb(op.proc.pid)
        result["fake_solver_errors"] = solver.errors[:3]
        op.stop()
        solver.stop()
    finally:
        cp.stop()
    result["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=["new", "base"], default="new")
    parser.add_argument("--base-ref", default="")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--solve-seconds", type=float, default=0.0)
    parser.add_argument("--drain-timeout", type=float, default=180.0)
    parser.add_argument("--settle-timeout", type=float, default=180.0)
    parser.add_argument("--out", type=Path, default=HERE / "results-routingjobs.json")
    args = parser.parse_args()
    result = run(args)
    print(json.dumps(result), flush=True)
    doc = json.loads(args.out.read_text()) if args.out.exists() else {"runs": []}
    doc["runs"].append(result)
    doc["command"] = (
        "for v in new base; do flock /tmp/logistica-heavy.lock "
        "python benchmarks/operator/routingjobs.py --variant $v --drain-timeout 150; done"
    )
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
