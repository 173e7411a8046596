"""Helpers of the operator benchmarks: the baseline operator's tree, the API server's request
counters, the operator's memory."""

from __future__ import annotations

import os
import ssl
import subprocess
import urllib.request
from collections import Counter
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.platform.kube import ControlPlane

ROOT = Path(__file__).resolve().parents[2]
SERVER_OWN = {"leases", "endpoints", "endpointslices"}  # the API server's own upkeep


def base_ref(ref: str = "") -> str:
    """``ref``, else the merge-base with main: the operator before this branch."""
    if ref:
        return ref
    out = subprocess.run(
        ["git", "-C", str(ROOT), "merge-base", "HEAD", "main"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def baseline_tree(ref: str, into: Path) -> dict[str, str]:
    """The operator of ``ref``, first on PYTHONPATH."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "operator", "workers"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return {"PYTHONPATH": f"{into / 'operator'}:{into / 'workers'}"}


def rss_mb(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(line.split()[1]) / 1024, 1)
    return out


def requests_by_resource(cp: ControlPlane, ctx: ssl.SSLContext) -> Counter[str]:
    with urllib.request.urlopen(f"{cp.url}/metrics", context=ctx, timeout=30) as resp:
        text = resp.read().decode()
    out: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        if family.name != "apiserver_request":
            continue
        for s in family.samples:
            if s.name == "apiserver_request_total":
                sub = s.labels.get("subresource", "")
                res = s.labels.get("resource", "") + (f"/{sub}" if sub else "")
                out[f"{s.labels.get('verb')} {res or s.labels.get('component', '?')}"] += int(
                    s.value
                )
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
