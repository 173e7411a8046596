"""tools/pause (the node's sandbox image) and tools/build-images.sh argument handling."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def pause_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("Go toolchain not installed (tools/setup.sh --test-binaries needs it too)")
    out = tmp_path_factory.mktemp("pause") / "pause"
    subprocess.run(
        [go, "build", "-trimpath", "-o", str(out), "."],
        cwd=REPO / "tools" / "pause",
        env={"CGO_ENABLED": "0", "PATH": "/usr/bin:/bin", "HOME": str(out.parent)},
        check=True,
        timeout=120,
    )
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_pause_blocks_until_signalled_then_exits_0(pause_binary: Path, sig: int) -> None:
    proc = subprocess.Popen([str(pause_binary)])
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=0.5)  # still blocking
        proc.send_signal(sig)
        assert proc.wait(timeout=5) == 0
    finally:
        proc.kill()


def test_pause_is_static(pause_binary: Path) -> None:
    head = pause_binary.read_bytes()[:4096]
    assert head.startswith(b"\x7fELF")
    assert b"ld-linux" not in pause_binary.read_bytes()  # no dynamic loader: runs FROM scratch


def test_pause_survives_child_signals(pause_binary: Path) -> None:
    proc = subprocess.Popen([str(pause_binary)])
    try:
        proc.send_signal(signal.SIGCHLD)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        proc.kill()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--push"], "--push needs an image reference"),
        (["--push", ""], "--push needs an image reference"),
        (["--frobnicate"], "unknown argument '--frobnicate'"),
        (["--local-base"], "--local-base only goes with --push"),
        (["--push-postgres"], "--push-postgres needs an image reference"),
        (["--push-postgres", ""], "--push-postgres needs an image reference"),
    ],
)
def test_build_images_rejects_bad_arguments_before_building(args: list[str], message: str) -> None:
    out = subprocess.run(
        ["bash", str(REPO / "tools" / "build-images.sh"), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 2
    assert message in out.stderr
