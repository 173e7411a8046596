"""The Dockerfile's and the lock files' promises, checked without building (the build itself
is tools/build-images.sh; the e2e tier runs the image on the node)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = REPO / "Dockerfile"


def preamble_and_stages() -> tuple[list[str], list[tuple[str, list[str]]]]:
    """(instructions before the first FROM, [(stage name, instructions)]); continuations joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    preamble: list[str] = []
    out: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            name = line.split()[-1] if " AS " in line.upper() else str(len(out))
            out.append((name, []))
        (out[-1][1] if out else preamble).append(line)
    return preamble, out


def stage(name: str) -> list[str]:
    return dict(preamble_and_stages()[1])[name]


def lock_pins(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        spec, *hashes = line.split(" --hash=")
        name, _, version = spec.strip().partition("==")
        assert version, f"{path.name}: {spec!r} is not pinned with =="
        assert hashes and all(h.startswith("sha256:") for h in hashes), f"{name} has no hash"
        pins[canonicalize_name(name)] = version.strip()
    return pins


def test_base_is_one_build_argument_defaulting_to_python_slim() -> None:
    preamble, stages = preamble_and_stages()
    assert preamble == ["ARG BASE=python:3.11-slim-bookworm"]
    assert [n for n, _ in stages] == ["build", "runtime"]
    for name, lines in stages:
        assert lines[0] == f"FROM ${{BASE}} AS {name}"


def test_no_frontend_is_fetched() -> None:
    first = DOCKERFILE.read_text().splitlines()[0]
    assert not first.lower().startswith("# syntax"), "a # syntax= line makes BuildKit pull"


def test_build_stage_installs_only_hash_checked_pinned_wheels() -> None:
    text = "\n".join(stage("build"))
    installs = re.findall(r"pip (?:--python \S+ )?install[^&]*", text)
    assert len(installs) == 3  # build tools, locked runtime deps, the project wheel (no deps)
    for cmd in installs[:2]:
        assert "--require-hashes" in cmd and "--only-binary :all:" in cmd and "-r " in cmd
    assert all("--no-deps" in cmd for cmd in installs)
    assert "python3 -m venv --without-pip /opt/venv" in text
    assert "strip --strip-unneeded" in text and "*.libs/*" in text  # never strip auditwheel libs


def test_lock_pins_every_dependency_within_pyproject_bounds() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = lock_pins(REPO / "requirements.lock")
    for dep in project["dependencies"]:
        req = Requirement(dep)
        version = pins.get(canonicalize_name(req.name))
        assert version is not None, (
            f"{req.name} is missing from requirements.lock: run tools/lock.sh"
        )
        assert req.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {req.name}=={version}, outside {req.specifier}: "
            "run tools/lock.sh"
        )
    build = lock_pins(REPO / "requirements-build.lock")
    assert set(build) == {"pip", "setuptools"}
    backend = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]
    assert Requirement(backend[0]).specifier.contains(build["setuptools"])


def test_runtime_stage_copies_only_the_venv_and_runs_unprivileged() -> None:
    lines = stage("runtime")
    copies = [ln for ln in lines if ln.startswith("COPY ")]
    assert copies == ["COPY --from=build /opt/venv /opt/venv"]
    text = "\n".join(lines)
    for banned in ("pip install", "/wheels", "gcc", "build-essential", "binutils"):
        assert banned not in text
    assert "pip uninstall -y -q pip setuptools wheel" in text
    users = [ln for ln in lines if ln.startswith("USER ")]
    assert users == ["USER 10001:10001"]
    values = yaml.safe_load((REPO / "helm/logistica/values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == 10001
    assert values["podSecurityContext"]["runAsGroup"] == 10001


def test_tini_is_pid_1_and_installed_only_when_the_base_lacks_it() -> None:
    lines = stage("runtime")
    entry = [ln for ln in lines if ln.startswith("ENTRYPOINT ")]
    assert len(entry) == 1
    argv = json.loads(entry[0].removeprefix("ENTRYPOINT "))  # exec form: no shell in between
    assert argv == ["/usr/bin/tini", "--", "logistica"]
    run = next(ln for ln in lines if ln.startswith("RUN ") and "tini" in ln)
    assert "if [ ! -x /usr/bin/tini ]" in run and "apt-get install" in run


def test_every_writable_path_is_under_tmp() -> None:
    env_lines = [ln.removeprefix("ENV ") for ln in stage("runtime") if ln.startswith("ENV ")]
    env = dict(kv.split("=", 1) for ln in env_lines for kv in ln.split())
    for var in ("MPLCONFIGDIR", "XDG_CACHE_HOME", "HOME"):
        assert env[var] == "/tmp" or env[var].startswith("/tmp/"), var
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PATH"].startswith("/opt/venv/bin:")


def test_the_console_script_is_the_entrypoint_target() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'logistica = "logistica_workers.cli:main"' in pyproject
