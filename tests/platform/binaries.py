"""Locates (building on first use) the Go-built test binaries: etcd, kube-apiserver, kubectl, helm."""

from __future__ import annotations

import os
import subprocess
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "tools" / "build-test-binaries.sh"


@cache
def bin_dir() -> Path:
    explicit = os.environ.get("LOGISTICA_BIN_DIR")
    if explicit and all((Path(explicit) / b).exists() for b in ("etcd", "kube-apiserver")):
        return Path(explicit)
    out = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], check=True, capture_output=True, text=True
    ).stdout
    return Path(out.strip().splitlines()[-1])


def binary(name: str) -> str:
    return str(bin_dir() / name)
