"""Replicated peers: one address variable naming two simulation services (real processes),
calls spread over both round-robin, and calls still succeed once one replica is stopped.

Each replica logs one ``request`` line per RPC it answers (``glidepath.rpc.interceptors``),
which is how the tests count the calls each one served, without patching anything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cli_support import EXAMPLE, run_cli
from process_support import ServiceProcess
from simulation_support import example_household, without_timings

from glidepath.config import ConfigError
from glidepath.rpc.addresses import parse_addresses
from glidepath.rpc.channel import open_channel, wait_until_serving
from glidepath.rpc.tls import ClientTls
from glidepath.simulation.v1 import simulation_pb2 as pb
from glidepath.simulation.v1 import simulation_pb2_grpc
from simulation_service.config import SimulationServiceSettings
from simulation_service.service import SERVICE_NAME
from training_service.config import TrainingSettings
from web_service.config import WebServiceSettings

SIMULATE = f"/{SERVICE_NAME}/Simulate"
CALLS = 12
ENV = {"SIMULATION_GRACE_SECONDS": "1"}


def simulations_served(replica: ServiceProcess) -> int:
    """Simulate calls this replica answered OK, read from its request log lines."""
    count = 0
    for line in replica.log().splitlines():
        if '"event":"request"' in line:
            record = json.loads(line)
            count += record["method"] == SIMULATE and record["code"] == "OK"
    return count


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[list[ServiceProcess]]:
    started = [
        ServiceProcess("simulation_service", tmp_path / name, ENV, service_name=SERVICE_NAME)
        for name in ("a", "b")
    ]
    yield started
    for replica in started:
        replica.stop()


def simulate(stub: simulation_pb2_grpc.SimulationServiceStub) -> pb.SimulateResponse:
    request = pb.SimulateRequest(
        household=example_household(), settings=pb.SimulationSettings(paths=200, seed=7)
    )
    reply: pb.SimulateResponse = stub.Simulate(request, timeout=30)
    return reply


def test_calls_spread_over_both_replicas_and_survive_one_stopping(
    replicas: list[ServiceProcess],
) -> None:
    first, second = replicas
    channel = open_channel(f"{first.address},{second.address}")
    try:
        wait_until_serving(channel, SERVICE_NAME, timeout=10)
        stub = simulation_pb2_grpc.SimulationServiceStub(channel)
        answers = [simulate(stub) for _ in range(CALLS)]
        served = [simulations_served(r) for r in replicas]
        assert sum(served) == CALLS
        # round_robin alternates once both connections are READY; allow a few calls made
        # while the second connection was still being set up.
        assert min(served) >= CALLS // 2 - 2, served
        # Both replicas computed the same answer for the same seeded request.
        assert len({without_timings(a).SerializeToString() for a in answers}) == 1

        assert first.stop() == 0
        after = [simulate(stub) for _ in range(CALLS)]
        assert all(a.run.paths == 200 for a in after)
        assert simulations_served(second) == served[1] + CALLS
    finally:
        channel.close()


def test_health_waiting_returns_while_one_listed_replica_is_down(
    replicas: list[ServiceProcess],
) -> None:
    alive, dead = replicas
    dead.stop()
    channel = open_channel(f"{dead.address},{alive.address}")
    try:
        wait_until_serving(channel, SERVICE_NAME, timeout=10)
        assert simulate(simulation_pb2_grpc.SimulationServiceStub(channel)).run.paths == 200
    finally:
        channel.close()


def test_the_cli_simulates_over_a_list_of_two_replicas(replicas: list[ServiceProcess]) -> None:
    env = {"SIMULATION_ADDR": ",".join(r.address for r in replicas)}
    result = run_cli("simulate", str(EXAMPLE), "--paths", "300", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["run"]["paths"] == 300
    assert sum(simulations_served(r) for r in replicas) == 1


def test_the_cli_names_the_variable_of_a_list_it_cannot_use() -> None:
    result = run_cli(
        "simulate", str(EXAMPLE), env={"SIMULATION_ADDR": "10.0.0.5:50051,simulation:50051"}
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("glidepath: SIMULATION_ADDR: ")
    assert "IP:port entries only, or one host name" in result.stderr


@pytest.mark.parametrize(
    ("written", "target"),
    [
        ("127.0.0.1:50051", "ipv4:127.0.0.1:50051"),
        (" 10.0.0.5:1 , 10.0.0.6:2 ", "ipv4:10.0.0.5:1,10.0.0.6:2"),
        ("[fd00::5]:1,[fd00::6]:1", "ipv6:[fd00::5]:1,[fd00::6]:1"),
        ("simulation:50051", "dns:///simulation:50051"),
    ],
)
def test_an_address_list_becomes_one_grpc_target(written: str, target: str) -> None:
    assert parse_addresses(written).target == target


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("sim-a:1,sim-b:1", "a host name among them"),
        ("10.0.0.5:1,simulation:1", "a host name among them"),
        ("10.0.0.5:1,[fd00::6]:1", "mixes IPv4 and IPv6"),
        ("10.0.0.5:1,", "an empty entry"),
        ("10.0.0.5", "has no port"),
        ("10.0.0.5:0", "a port in [1, 65535]"),
        ("fd00::5:1", "goes in brackets"),
        ("no such host:1", "neither an IP address nor a host name"),
    ],
)
def test_a_bad_list_is_refused_where_the_setting_is_read(
    written: str, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAINING_ADDR", written)
    with pytest.raises(ConfigError, match=rf"^TRAINING_ADDR: .*{re.escape(problem)}"):
        SimulationServiceSettings.from_env()
    monkeypatch.setenv("REGISTRY_ADDR", written)
    with pytest.raises(ConfigError, match=rf"^REGISTRY_ADDR: .*{re.escape(problem)}"):
        TrainingSettings.from_env()
    monkeypatch.setenv("SIMULATION_ADDR", written)
    with pytest.raises(ConfigError, match=rf"^SIMULATION_ADDR: .*{re.escape(problem)}"):
        WebServiceSettings.from_env()


def test_the_services_keep_a_list_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_ADDR", "10.0.0.5:50053,10.0.0.6:50053")
    assert SimulationServiceSettings.from_env().registry_addr == "10.0.0.5:50053,10.0.0.6:50053"
    monkeypatch.delenv("REGISTRY_ADDR")
    assert SimulationServiceSettings.from_env().registry_addr == "127.0.0.1:50053"


def test_tls_over_several_ips_needs_the_name_every_certificate_carries() -> None:
    tls = ClientTls(b"-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(ConfigError, match="GLIDEPATH_TLS_SERVER_NAME"):
        open_channel("127.0.0.1:1,127.0.0.1:2", tls)
    open_channel("127.0.0.1:1,127.0.0.1:2", ClientTls(tls.root_certificates, "sim")).close()
    open_channel("127.0.0.1:1", tls).close()  # one address: checked against itself


def test_a_stopped_list_is_unavailable_not_a_hang() -> None:
    channel = open_channel("127.0.0.1:9,127.0.0.1:9")
    try:
        with pytest.raises(grpc.RpcError) as caught:
            simulate(simulation_pb2_grpc.SimulationServiceStub(channel))
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        channel.close()
