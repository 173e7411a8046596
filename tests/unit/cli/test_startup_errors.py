"""What a misconfigured pod sees first: one clear line and a non-zero exit, not a traceback
or a retry loop (found when the image first ran under a read-only root)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest

from logistica_workers import cli
from tests.support.cli import logistica

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_operator_without_credentials_fails_fast_with_one_line(tmp_path: Path) -> None:
    started = time.monotonic()
    out = logistica(
        "operator",
        env={
            "HOME": str(tmp_path),  # no ~/.kube/config
            "KUBECONFIG": str(tmp_path / "missing-kubeconfig"),
            "KUBERNETES_SERVICE_HOST": "",  # not in a pod
            "KUBERNETES_SERVICE_PORT": "",
        },
    )
    assert time.monotonic() - started < 20  # kopf alone would retry its login forever
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("logistica operator: no Kubernetes credentials")
    assert "Traceback" not in out.stderr


def _no_temp_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    # nothing can be created under /proc, not even by root: as unwritable as a read-only root
    monkeypatch.setattr(tempfile, "tempdir", "/proc")


@pytest.mark.parametrize(
    "argv",
    [["solve", str(EXAMPLES / "problems" / "lisbon.json")], ["route", "--port", "1"]],
    ids=["solve", "route"],
)
def test_solver_commands_without_a_writable_temp_dir_say_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    _no_temp_dir(monkeypatch)
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"logistica {argv[0]}: no writable temporary directory")
    assert "mount a writable /tmp" in err
