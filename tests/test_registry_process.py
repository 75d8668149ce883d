"""``python -m model_registry_service`` as a real process: health, reflection, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from glidepath.rpc.channel import open_channel, wait_until_serving
from model_registry_service.service import SERVICE_NAME

ROOT = Path(__file__).resolve().parent.parent


def _wait_for_port(port_file: Path, process: subprocess.Popen[bytes], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_file.exists():
            return int(port_file.read_text())
        if process.poll() is not None:
            raise AssertionError(f"the registry exited early: {process.communicate()[1]!r}")
        time.sleep(0.05)
    raise AssertionError("the registry never wrote its port file")


def test_serves_health_and_reflection_then_stops_on_sigterm(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    env = {**os.environ, "RL_MODELS_DIR": str(tmp_path / "rl"), "REGISTRY_GRACE_SECONDS": "2"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "model_registry_service",
            "--port",
            "0",
            "--port-file",
            str(port_file),
        ],
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
        channel.close()
        assert (tmp_path / "rl").is_dir()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0  # a hang past the grace period fails here
    finally:
        if process.poll() is None:
            process.kill()
        _, stderr = process.communicate()
    assert b'"event":"stopping"' in stderr and b'"signal":"SIGTERM"' in stderr
