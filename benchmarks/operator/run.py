"""Operator scale: N WebhookSources applied at once -> seconds until every one has Ready=True
written, the operator's peak RSS, and the API requests the server received meanwhile (by verb and
resource; they include this script's creates and polls and the stand-in's patches). A real
kube-apiserver + etcd; benchmarks/operator/fake_ready.py marks the workers' Deployments ready
instead of starting N ingest processes. ``--variant base`` runs the operator of ``--base-ref``
(default: the merge-base with main) for a side-by-side comparison.

Usage: python benchmarks/operator/run.py [--counts 100,500] [--variant new|base] [--out FILE]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kubernetes import client

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the test platform lives in tests/
from benchmarks.operator.common import base_ref, baseline_tree, cpu_seconds, requests_by_resource
from benchmarks.operator.fake_ready import FakeReady

from tests.e2e.operator_harness import OperatorProcess
from tests.platform.kube import ControlPlane
from tests.platform.kubeclient import api_client, install_crds

HERE = Path(__file__).resolve().parent


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def ready_count(api: client.ApiClient, ns: str) -> int:
    items = client.CustomObjectsApi(api).list_namespaced_custom_object(
        "logistica.dev", "v1alpha1", ns, "webhooksources"
    )["items"]
    return sum(
        any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (i.get("status") or {}).get("conditions", [])
        )
        for i in items
    )


def apply_all(api: client.ApiClient, ns: str, n: int) -> None:
    core, crs = client.CoreV1Api(api), client.CustomObjectsApi(api)

    def one(i: int) -> None:
        core.create_namespaced_secret(
            ns, {"metadata": {"name": f"s{i}"}, "stringData": {"k": f"key-{i}"}}
        )
        crs.create_namespaced_custom_object(
            "logistica.dev",
            "v1alpha1",
            ns,
            "webhooksources",
            {
                "apiVersion": "logistica.dev/v1alpha1",
                "kind": "WebhookSource",
                "metadata": {"name": f"src-{i}"},
                "spec": {"provider": "github", "secretRef": {"name": f"s{i}"}, "replicas": 1},
            },
        )

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(n)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="100,500")
    parser.add_argument("--variant", choices=["new", "base"], default="new")
    parser.add_argument("--base-ref", default="")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    parser.add_argument("--keep-log", action="store_true", help="print the operator log's path")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="operator-bench-"))
    env: dict[str, str] = {}
    if args.variant == "base":
        (root / "base").mkdir()
        env = baseline_tree(base_ref(args.base_ref), root / "base")
    cp = ControlPlane(root / "kube", service_cidr="10.0.0.0/20")  # room for N Services
    cp.start()
    results: dict[str, Any] = (
        json.loads(args.out.read_text()) if args.out.exists() else {"runs": []}
    )
    try:
        api = api_client(cp.kubeconfig)
        install_crds(api)
        core = client.CoreV1Api(api)
        for n in [int(c) for c in args.counts.split(",")]:
            ns = f"bench-{n}"
            core.create_namespace({"metadata": {"name": ns}})
            runner = FakeReady(api, ns)
            runner.start()
            op = OperatorProcess(
                cp,
                ns,
                root / f"operator-{n}.log",
                LOGISTICA_RESYNC_SECONDS="300",
                LOGISTICA_LOG_LEVEL="WARNING",
                **env,
            )
            op.start()
            time.sleep(3)  # let the operator connect before the burst (not part of the timing)
            before = requests_by_resource(cp, cp.ssl_context())
            assert op.proc is not None
            cpu0 = cpu_seconds(op.proc.pid)
            t0 = time.monotonic()
            apply_all(api, ns, n)
            applied = time.monotonic() - t0
            while ready_count(api, ns) < n:
                if time.monotonic() - t0 > 600:
                    raise TimeoutError(f"{n}: not all Ready after 600 s")
                time.sleep(0.5)
            elapsed = time.monotonic() - t0
            cpu = cpu_seconds(op.proc.pid) - cpu0
            requests = requests_by_resource(cp, cp.ssl_context()) - before
            run = {
                "webhooksources": n,
                "seconds_to_all_ready": round(elapsed, 1),
                "seconds_to_apply": round(applied, 1),
                "operator_cpu_seconds": round(cpu, 1),
                "operator_peak_rss_mb": peak_rss_mb(op.proc.pid),
                "variant": args.variant,
                "loadavg": Path("/proc/loadavg").read_text().split()[:3],
                "requests": sum(requests.values()),
                "requests_by_kind": dict(requests.most_common(12)),
            }
            results["runs"].append(run)
            print(json.dumps(run), flush=True)
            op.stop()
            runner.stop()
            if args.keep_log:
                print(f"operator log: {root / f'operator-{n}.log'}", flush=True)
    finally:
        cp.stop()
    results["command"] = (
        "flock /tmp/logistica-heavy.lock bash -c 'for v in new base; do python "
        f"benchmarks/operator/run.py --counts {args.counts} --variant $v; done'"
    )
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
