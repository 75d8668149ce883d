"""Helpers for the command-line client's tests: run ``glidepath`` as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "household.json"
# Every service on a free port, so that the suite never meets another stack's ports.
EPHEMERAL_PORTS = {"registry": 0, "training": 0, "simulation": 0}
# Variables the client reads; the tests set them explicitly, never inherit them.
CLIENT_VARIABLES = (
    "SIMULATION_ADDR",
    "TRAINING_ADDR",
    "REGISTRY_ADDR",
    "GLIDEPATH_TOKEN",
    "REGISTRY_TOKEN",
    "GLIDEPATH_TLS_CA",
)
CLI_TIMEOUT = 120.0


def cli_env(env: Mapping[str, str]) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in CLIENT_VARIABLES}
    return {**clean, **env}


def run_cli(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m glidepath.cli ARGS`` with exactly these client variables."""
    return subprocess.run(
        [sys.executable, "-m", "glidepath.cli", *args],
        env=cli_env(env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def one_error_line(result: subprocess.CompletedProcess[str], exit_code: int) -> str:
    """The single ``glidepath: ...`` line a failure prints (asserting there is nothing else)."""
    assert result.returncode == exit_code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("glidepath: "), lines[0]
    return lines[0]
