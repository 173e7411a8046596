"""The chart's `helm test` script (helm/logistica/files/helm_test.py) fails clearly: exit 1 and
one line naming the request, the expected and the received answer."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from logistica_workers.api.routing import Problem

SCRIPT = Path(__file__).resolve().parents[3] / "helm" / "logistica" / "files" / "helm_test.py"


class Rejecting(BaseHTTPRequestHandler):
    """Answers every POST 401, as an ingest worker does for a bad signature."""

    seen: list[Message] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        Rejecting.seen.append(self.headers)
        body = b'{"error": "bad_signature", "message": "no key matches"}'
        self.send_response(401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Rejecting)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


def run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    secret = tmp_path / "current"
    secret.write_text("s3cret")
    base = {
        "PATH": os.environ["PATH"],
        "LOGISTICA_TEST_SECRET_FILE": str(secret),
        "LOGISTICA_TEST_NAMESPACE": "ns",
        "LOGISTICA_TEST_SOURCE": "src",
        "LOGISTICA_DATABASE_URL": "postgresql://u:p@127.0.0.1:1/db",
        "LOGISTICA_TEST_TIMEOUT_SECONDS": "5",
    }
    return subprocess.run(
        [sys.executable, str(SCRIPT)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_a_rejected_event_fails_naming_the_answer(server: str, tmp_path: Path) -> None:
    url = f"{server}/ingest/src"
    proc = run(tmp_path, LOGISTICA_TEST_INGEST_URL=url)
    assert proc.returncode == 1
    assert f"FAIL: POST {url}: expected 202, got 401" in proc.stderr
    assert "no key matches" in proc.stderr
    # the event was signed the GitHub way, with the delivery id the script checks for later
    headers = Rejecting.seen[-1]
    assert str(headers.get("X-Hub-Signature-256")).startswith("sha256=")
    assert str(headers.get("X-GitHub-Delivery")).startswith("helm-test-")


def test_an_unreachable_worker_fails_at_the_deadline(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/ingest/src"  # discard port: connection refused
    proc = run(tmp_path, LOGISTICA_TEST_INGEST_URL=url, LOGISTICA_TEST_TIMEOUT_SECONDS="1.5")
    assert proc.returncode == 1
    assert f"FAIL: POST {url}: no 202 before the deadline; last answer" in proc.stderr
    assert "Connection refused" in proc.stderr or "ConnectionRefused" in proc.stderr


def test_its_problem_is_valid_for_post_route() -> None:
    spec = importlib.util.spec_from_file_location("helm_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    problem = Problem.model_validate(module.PROBLEM)
    assert [s.id for s in problem.stops] == ["a", "b", "c"]
