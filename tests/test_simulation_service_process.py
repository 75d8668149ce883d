"""``python -m simulation_service`` as a real process: port file, health, reflection, a
Simulate call, and a clean exit on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from simulation_support import ROOT, example_household

from glidepath.rpc.channel import open_channel, wait_until_serving
from glidepath.simulation.v1 import simulation_pb2 as pb
from glidepath.simulation.v1 import simulation_pb2_grpc
from simulation_service.service import SERVICE_NAME


def _wait_for_port(port_file: Path, process: subprocess.Popen[bytes], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_file.exists():
            return int(port_file.read_text())
        if process.poll() is not None:
            raise AssertionError(f"the service exited early: {process.communicate()[1]!r}")
        time.sleep(0.05)
    raise AssertionError("the service never wrote its port file")


def test_serves_health_reflection_and_simulate_then_stops_on_sigterm(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    env = {**os.environ, "SIMULATION_GRACE_SECONDS": "2", "SIMULATION_MAX_PATHS": "50000"}
    process = subprocess.Popen(
        [sys.executable, "-m", "simulation_service", "--port", "0", "--port-file", str(port_file)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        port = _wait_for_port(port_file, process, timeout=30)
        channel = open_channel(f"127.0.0.1:{port}")
        wait_until_serving(channel, SERVICE_NAME, timeout=10)
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=5
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        replies = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        names = {s.name for reply in replies for s in reply.list_services_response.service}
        assert SERVICE_NAME in names and "grpc.health.v1.Health" in names
        stub = simulation_pb2_grpc.SimulationServiceStub(channel)
        reply = stub.Simulate(
            pb.SimulateRequest(
                household=example_household(), settings=pb.SimulationSettings(paths=1000)
            ),
            timeout=30,
        )
        assert reply.run.paths == 1000 and reply.result.strategy == "own_plan"
        channel.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0  # a hang past the grace period fails here
    finally:
        if process.poll() is None:
            process.kill()
        _, stderr = process.communicate()
    assert b'"event":"stopping"' in stderr and b'"signal":"SIGTERM"' in stderr


def test_a_bad_setting_stops_the_service_with_the_variable_named() -> None:
    env = {**os.environ, "SIMULATION_MAX_CONCURRENT": "none"}
    result = subprocess.run(
        [sys.executable, "-m", "simulation_service", "--port", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert b"SIMULATION_MAX_CONCURRENT" in result.stderr
