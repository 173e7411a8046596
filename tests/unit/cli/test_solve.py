"""``logistica solve`` as a user runs it: interruption, CVRPLIB files, errors naming the
field, plots."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.feasibility import check
from tests.support.problems import city_problem

REPO = Path(__file__).resolve().parents[3]


def test_sigterm_mid_solve_returns_a_feasible_partial_solution(tmp_path: Path) -> None:
    doc = city_problem(150, 5, seed=3, capacity=40, time_limit=120)
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps(doc))
    proc = subprocess.Popen(
        [sys.executable, "-m", "logistica_workers", "solve", str(problem)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # blocks until the first solution is reported
        assert json.loads(line)["event"] == "progress"
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
        stopped_after = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert stopped_after < 1.5  # the search stops within about a second
    sol = json.loads(out)
    assert sol["partial"] is True
    assert sol["solver"]["status"] == "INTERRUPTED"
    assert check(doc, sol) == []


def test_cvrplib_instance_reaches_its_best_known_cost(tmp_path: Path) -> None:
    # the shared data sit beside the checkout (or beside its worktrees' folder)
    shared = next((p / "shared" for p in REPO.parents if (p / "shared" / "data").is_dir()), None)
    assert shared is not None, f"no shared/data beside {REPO}"
    data = shared / "data" / "cvrplib" / "P-n16-k8.vrp"
    out = tmp_path / "s.json"
    rc = subprocess.run(
        [
            sys.executable,
            "-m",
            "logistica_workers",
            "solve",
            str(data),
            "--time-limit",
            "2",
            "-o",
            str(out),
        ],
        check=False,
    ).returncode
    assert rc == 0
    assert json.loads(out.read_text())["cost"] == 450  # bks.csv


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope.json"], "no such file"),
        (["--time-limit", "0", "examples/problems/lisbon.json"], "--time-limit"),
        (["examples/routingjob-lisbon.yaml"], "not valid JSON"),
    ],
)
def test_solve_cli_errors(args: list[str], message: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "logistica_workers", "solve", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert message in proc.stderr


def test_solve_cli_names_the_bad_field(tmp_path: Path) -> None:
    doc = city_problem(3, 1, seed=1)
    doc["stops"][1]["lat"] = 95
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    proc = subprocess.run(
        [sys.executable, "-m", "logistica_workers", "solve", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "stops[1].lat" in proc.stderr


def test_plot_draws_an_svg(tmp_path: Path) -> None:
    svg = tmp_path / "routes.svg"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "logistica_workers",
            "solve",
            "examples/problems/lisbon.json",
            "--time-limit",
            "1",
            "--plot",
            str(svg),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    text = svg.read_text()
    assert text.startswith("<?xml") and "<svg" in text
    assert "ana" in text and "rui" in text  # the legend names the couriers
