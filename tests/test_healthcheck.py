"""The container health probe: exit 0 iff the server (or a named service) is SERVING."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import grpc
import pytest

from glidepath.healthcheck import check, main
from glidepath.rpc.server import RunningServer, ServiceSpec, start_server

SERVICE = "glidepath.test.v1.Probe"


def _no_servicers(_server: grpc.Server) -> None:
    """Health and reflection only: all the probe talks to."""


@pytest.fixture
def server() -> Iterator[RunningServer]:
    spec = ServiceSpec(
        name="probe_test", default_port=0, register=_no_servicers, service_names=[SERVICE]
    )
    running = start_server(spec, "127.0.0.1", 0)
    yield running
    running.server.stop(0).wait()


def test_serving_server_and_service_exit_zero(server: RunningServer) -> None:
    address = f"127.0.0.1:{server.port}"
    assert main([address]) == 0
    assert main([address, SERVICE, "--timeout", "2"]) == 0


def test_unknown_service_exits_one(
    server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([f"127.0.0.1:{server.port}", "glidepath.test.v1.Nobody"]) == 1
    assert "NOT_FOUND" in capsys.readouterr().out


def test_not_serving_exits_one(server: RunningServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.set_serving(False)
    assert main([f"127.0.0.1:{server.port}", SERVICE]) == 1
    assert "NOT_SERVING" in capsys.readouterr().out


def test_nothing_listening_fails_within_the_deadline(server: RunningServer) -> None:
    # A port that was just free: bind-and-release by stopping a second server.
    spec = ServiceSpec(name="gone", default_port=0, register=_no_servicers, service_names=[])
    gone = start_server(spec, "127.0.0.1", 0)
    gone.server.stop(0).wait()
    started = time.monotonic()
    serving, seen = check(f"127.0.0.1:{gone.port}", timeout=0.5)
    assert not serving
    assert seen.startswith(("DEADLINE_EXCEEDED", "UNAVAILABLE"))
    assert time.monotonic() - started < 3.0


def test_bad_timeout_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["127.0.0.1:1", "--timeout", "0"])
    assert exc.value.code == 2


def test_module_runs_and_stays_light(server: RunningServer) -> None:
    """As compose runs it; and without numpy or torch, so that a check is cheap."""
    done = subprocess.run(
        [sys.executable, "-m", "glidepath.healthcheck", f"127.0.0.1:{server.port}", SERVICE],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SERVING" in done.stdout
    heavy = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, glidepath.healthcheck;"
            "print(sorted({'numpy', 'torch'} & set(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert heavy.stdout.strip() == "[]", heavy.stdout + heavy.stderr
