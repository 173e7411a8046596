"""The command's shape: one module per subcommand, the README's table true, no import cycle,
and ``--help`` that does not load the solver or the operator."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from logistica_workers import cli
from tests.support.cli import logistica

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "workers" / "logistica_workers"


def readme_commands() -> set[str]:
    """The subcommands the README's command-line table lists (first word after `logistica`)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## The command line", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `logistica ([a-z]+)", section, re.MULTILINE))


def test_every_subcommand_is_a_module_with_add_parser_and_main() -> None:
    names = {m.__name__.rsplit(".", 1)[1] for m in cli.SUBCOMMANDS}
    assert names == readme_commands()
    for module in cli.SUBCOMMANDS:
        assert callable(module.add_parser)
        assert callable(module.main)


@pytest.mark.parametrize("name", sorted(readme_commands()))
def test_each_subcommand_answers_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main([name, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: logistica {name} ")


def test_nothing_outside_cli_imports_cli() -> None:
    """The command layer sits on top: product modules never import it (no cycle)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if PACKAGE / "cli" in path.parents or path.name == "__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "logistica_workers.cli"
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_help_loads_neither_the_solver_nor_the_operator() -> None:
    probe = (
        "import sys; from logistica_workers import cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('pyvrp', 'ortools', 'kopf') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert "HEAVY []" in out.stderr


def test_bad_port_flag_is_exit_2_naming_it() -> None:
    out = logistica("route", "--port", "70000")
    assert out.returncode == 2
    assert out.stderr.strip() == "logistica route: --port must be between 0 and 65535, got 70000"
