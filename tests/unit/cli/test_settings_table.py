"""The README's configuration table is the contract: every variable the code reads is in it,
and every numeric or enumerated one, set to a bad value, stops its command with exit 2 and a
line naming it."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from logistica_workers import cli
from logistica_workers.runtime.settings import CHOICES
from tests.support.cli import logistica

ROOT = Path(__file__).resolve().parents[3]
NAME = re.compile(r"LOGISTICA_[A-Z0-9_]+")

# Free text: any value is accepted by its reader (a DSN, a path, a name, a list).
TEXT = {
    "LOGISTICA_DATABASE_URL",
    "LOGISTICA_SOURCES",
    "LOGISTICA_HOST",
    "LOGISTICA_EVENTS_TOKEN",
    "LOGISTICA_EVENTS_TOKEN_FILE",
    "LOGISTICA_EVENTS_RETENTION_RULES",
    "LOGISTICA_PG_BIN",
    "LOGISTICA_IMAGE",
    "LOGISTICA_DATABASE_SECRET",
    "LOGISTICA_DATABASE_SECRET_KEY",
    "LOGISTICA_PEERING",
    "LOGISTICA_WATCH_NAMESPACES",
    "LOGISTICA_PROBLEM_FILE",
    "LOGISTICA_MATRIX_FILE",
    "LOGISTICA_DEBUG_TOKEN",
}
# "used by" words of the table that are not a subcommand: a server stands for them
ANY_SERVER = {"every server", "servers", "all"}
COMMANDS = ("ingest", "route", "events", "operator", "dev")


@dataclass(frozen=True)
class Row:
    name: str
    used_by: str

    @property
    def command(self) -> str:
        words = [w.strip(" `") for w in self.used_by.split(",")]
        for word in words:
            if word in COMMANDS:
                return word
            if word in ANY_SERVER:
                return "route"
        raise AssertionError(f"{self.name}: no command to start in {self.used_by!r}")


def table() -> list[Row]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].startswith("`LOGISTICA_"):
            rows += [Row(name, cells[1]) for name in NAME.findall(cells[0])]
    return rows


ROWS = table()
CHECKED = [r for r in ROWS if r.name not in TEXT]


def code_names() -> set[str]:
    found: set[str] = set()
    for top in ("operator", "workers"):
        for path in (ROOT / top).rglob("*.py"):
            # a name ending in "_" is a prefix (f"{prefix}IDLE_TIMEOUT"), not a variable
            found |= {n for n in NAME.findall(path.read_text()) if not n.endswith("_")}
    return found


def test_the_table_is_parsed() -> None:
    names = [r.name for r in ROWS]
    assert len(names) == len(set(names)), "a variable is listed twice"
    assert len(CHECKED) >= 25
    assert {"LOGISTICA_SOLVER_CONCURRENCY", "LOGISTICA_LOG_LEVEL", "LOGISTICA_PORT"} <= set(names)


def test_every_variable_the_code_reads_is_in_the_table() -> None:
    missing = code_names() - {r.name for r in ROWS}
    assert not missing, f"read by the code but not in README's configuration table: {missing}"


def test_every_enumerated_variable_is_in_the_table() -> None:
    assert set(CHOICES) <= {r.name for r in CHECKED}


def bad_values(name: str) -> list[str]:
    if name in CHOICES:
        return ["bogus", "jsonn"]
    return ["not-a-number", "-1e12", "1e12"]


def run_in_process(argv: list[str]) -> int:
    """``logistica ARGV`` in this process; a bad setting must stop it at once, so a command
    still running after the deadline (it started serving) fails the test."""
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(cli.main(argv)), daemon=True)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive(), f"logistica {' '.join(argv)} did not stop at start-up"
    assert result, f"logistica {' '.join(argv)} raised instead of exiting"
    return result[0]


@pytest.mark.parametrize(
    ("row", "value"),
    [(r, v) for r in CHECKED for v in bad_values(r.name)],
    ids=lambda x: x.name if isinstance(x, Row) else str(x),
)
def test_a_bad_value_stops_the_command_with_exit_2_naming_it(
    row: Row, value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for other in (r.name for r in ROWS):
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv(row.name, value)
    code = run_in_process([row.command])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1, err
    assert err[0].startswith(f"logistica {row.command}: {row.name} must be"), err[0]
    assert value in err[0]


def test_choices_are_listed_in_the_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOGISTICA_LOG_FORMAT", "yaml")
    assert run_in_process(["route"]) == 2
    assert "LOGISTICA_LOG_FORMAT must be one of json, text, got 'yaml'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["operator"], {"LOGISTICA_SOLVER_CONCURRENCY": "two"}, "LOGISTICA_SOLVER_CONCURRENCY"),
        (["operator"], {"LOGISTICA_OPERATOR_HEALTH_PORT": "70000"}, "between 0 and 65535"),
        (["events", "maintain"], {"LOGISTICA_GRACE_SECONDS": "soon"}, "LOGISTICA_GRACE_SECONDS"),
        (["migrate"], {"LOGISTICA_LOG_LEVEL": "LOUD"}, "LOGISTICA_LOG_LEVEL must be one of"),
    ],
)
def test_as_a_user_runs_it(argv: list[str], env: dict[str, str], message: str) -> None:
    """In a child process: one line, no traceback, exit 2."""
    out = logistica(*argv, env=env)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
