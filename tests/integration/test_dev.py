"""``logistica dev``, the README's run command: what it prints works, and its data outlives it."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from logistica_workers.db.embedded import free_port
from tests.platform.processes import log_tail, start, stop
from tests.support.cli import logistica
from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]


def _curl_line(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines()
    return lines[lines.index("send a signed event:") + 1].strip()


def _run_dev(tmp: Path, log: Path, ingest: int, route: int, events: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "logistica_workers", "dev", "--data-dir", str(tmp / "data")]
    cmd += ["--ingest-port", str(ingest), "--route-port", str(route)]
    cmd += ["--events-port", str(events)]
    env = {**os.environ, "LOGISTICA_DEV_PG_PORT": str(free_port())}
    proc = start(cmd, log, env)
    wait_for(
        lambda: all(
            line in log.read_text()
            for line in ("send a signed event:", "events: curl", "routing: curl")
        ),
        90,
        "logistica dev",
        log_tail(log),
        process=proc,
    )
    return proc


def _send(curl: str) -> str:
    out = subprocess.run(shlex.split(curl), capture_output=True, text=True, timeout=30, check=True)
    return out.stdout


@pytest.fixture
def dev_dir() -> Iterator[Path]:
    """Not under pytest's basetemp: the dev server's Postgres (user postgres) must keep access
    to its data dir even if another pytest session re-chmods /tmp/pytest-of-root (see conftest)."""
    root = Path(tempfile.mkdtemp(prefix="logistica-dev-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_dev_serves_the_printed_curl_and_keeps_its_data(dev_dir: Path) -> None:
    tmp_path = dev_dir
    ingest, route, events = free_port(), free_port(), free_port()
    log = tmp_path / "dev.log"
    proc = _run_dev(tmp_path, log, ingest, route, events)
    try:
        first = _send(_curl_line(log))
        assert first.startswith("HTTP/1.1 202"), first
        again = _send(_curl_line(log))
        assert '"status":"duplicate"' in again, again
        # the event feed serves the stored event (once, though it was sent twice)
        feed = f"http://127.0.0.1:{events}/events?wait=5"
        with urllib.request.urlopen(feed, timeout=30) as resp:
            assert [e["eventId"] for e in json.loads(resp.read())] == ["evt_dev_1"]
        problem = (ROOT / "examples" / "problems" / "lisbon.json").read_bytes()
        req = urllib.request.Request(
            f"http://127.0.0.1:{route}/route",
            data=problem,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            assert resp.status == 200
            assert json.loads(resp.read())["routes"]
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(30) == 0
    finally:
        stop(proc)

    proc = _run_dev(tmp_path, tmp_path / "dev2.log", ingest, route, events)
    try:  # the same data directory: the event stored by the first run is still there
        assert '"status":"duplicate"' in _send(_curl_line(log))
    finally:
        stop(proc)
    assert proc.returncode == 0


def test_dev_refuses_a_bad_setting_before_starting_anything(tmp_path: Path) -> None:
    out = logistica("dev", "--data-dir", str(tmp_path / "d"), env={"LOGISTICA_INGEST_QUEUE": "0"})
    assert out.returncode == 2
    assert "LOGISTICA_INGEST_QUEUE must be between 1 and 1000000, got 0" in out.stderr
    assert not (tmp_path / "d").exists()


def test_dev_refuses_an_unsupported_otlp_protocol(tmp_path: Path) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    }
    out = logistica("dev", "--data-dir", str(tmp_path / "d"), env=env)
    assert out.returncode == 2
    assert "OTEL_EXPORTER_OTLP_PROTOCOL='grpc'" in out.stderr
    assert not (tmp_path / "d").exists()
