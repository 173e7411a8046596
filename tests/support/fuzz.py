"""Run schemathesis' CLI against a live service from its checked-in OpenAPI document."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# the contract: no 5xx and every answer as documented (status, content type, body schema)
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,response_headers_conformance"
)


@dataclass
class FuzzRun:
    returncode: int
    output: str


async def schemathesis(
    document: str,
    url: str,
    *,
    max_examples: int = 25,
    headers: dict[str, str] | None = None,
    seed: int = 1,
    max_time: int = 45,
    timeout: float = 240,
) -> FuzzRun:
    """``schemathesis run docs/openapi/<document> --url <url>``, bounded in examples and time;
    the seed is fixed (``LOGISTICA_FUZZ_SEED`` overrides it) so a failure reproduces."""
    exe = Path(sys.executable).with_name("schemathesis")
    args = [
        str(exe),
        "run",
        str(ROOT / "docs" / "openapi" / document),
        "--url",
        url,
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(max_examples),
        "--seed",
        os.environ.get("LOGISTICA_FUZZ_SEED", str(seed)),
        "--generation-database",
        "none",
        "--request-timeout",
        "15",
        "--max-time",
        str(max_time),
        "--workers",
        "1",
        "--no-color",
        "--output-truncate",
        "false",
    ]
    for name, value in (headers or {}).items():
        args += ["--header", f"{name}: {value}"]
    with tempfile.TemporaryDirectory(prefix="logistica-fuzz-") as cwd:
        proc = await asyncio.create_subprocess_exec(
            *args,
            cwd=cwd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
    return FuzzRun(proc.returncode or 0, out.decode(errors="replace"))
