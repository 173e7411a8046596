"""The Dockerfile's promises, checked without a Docker engine (none runs here)."""

from __future__ import annotations

import json
import re
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"


def stages() -> list[tuple[str, list[str]]]:
    """(stage name, instructions) in order; continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    out: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            name = line.split()[-1] if " AS " in line.upper() else str(len(out))
            out.append((name, []))
        out[-1][1].append(line)
    return out


def test_multi_stage_with_a_slim_base() -> None:
    names = [n for n, _ in stages()]
    assert names == ["build", "runtime"]
    for _, lines in stages():
        assert "-slim" in lines[0]


def test_runtime_stage_is_non_root_and_carries_no_build_tools() -> None:
    _, lines = stages()[-1]
    users = [ln for ln in lines if ln.startswith("USER ")]
    assert users and users[-1].split()[1].split(":")[0] not in ("0", "root")
    text = "\n".join(lines)
    assert "COPY --from=build /wheels" in text
    assert "--no-index" in text  # only the wheels built in the first stage
    for tool in ("gcc", "build-essential", "python -m build", "COPY operator", "COPY workers"):
        assert tool not in text


def test_one_entrypoint_with_an_init_for_signals() -> None:
    _, lines = stages()[-1]
    entry = [ln for ln in lines if ln.startswith("ENTRYPOINT ")]
    assert len(entry) == 1
    argv = json.loads(entry[0].removeprefix("ENTRYPOINT "))  # exec form: no shell in between
    assert argv == ["/usr/bin/tini", "--", "logistica"]
    assert any("tini" in ln for ln in lines if ln.startswith("RUN "))


def test_the_console_script_is_the_entrypoint_target() -> None:
    pyproject = (DOCKERFILE.parent / "pyproject.toml").read_text()
    assert 'logistica = "logistica_workers.cli:main"' in pyproject
