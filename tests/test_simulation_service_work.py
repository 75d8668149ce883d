"""Work off the RPC threads: a full pool refuses at once, and a cancelled or expired call
stops its simulation and frees its place promptly.

The server runs one simulation at a time with no wait list, so whether the place is free
is visible from outside: a new call either runs or is refused with RESOURCE_EXHAUSTED.
A "big" simulation is 2,000,000 paths over 50 years: tens of seconds of CPU, far longer
than any bound used here, so finishing in time can only mean it was stopped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from simulation_support import SimulationHarness, example_household, simulation_server

from glidepath.rpc.status import error_reason
from glidepath.simulation.v1 import simulation_pb2 as pb
from simulation_service.config import SimulationServiceSettings
from simulation_service.service import SERVICE_NAME
from simulation_service.work import PoolLoad

BIG = 2_000_000
PROMPTLY = 5.0  # seconds: generous; the engine checks between simulated years


@pytest.fixture
def server() -> Iterator[SimulationHarness]:
    settings = SimulationServiceSettings(max_concurrent=1, max_queued=0, max_paths=BIG)
    with simulation_server(settings) as harness:
        yield harness


def big_request() -> pb.SimulateRequest:
    return pb.SimulateRequest(
        household=example_household(), settings=pb.SimulationSettings(paths=BIG)
    )


def small_request() -> pb.SimulateRequest:
    return pb.SimulateRequest(
        household=example_household(), settings=pb.SimulationSettings(paths=1000)
    )


def wait_for_load(server: SimulationHarness, load: PoolLoad, within: float) -> float:
    """Seconds until the pool's load is ``load``; fails after ``within`` seconds."""
    began = time.monotonic()
    while time.monotonic() - began < within:
        if server.app.pool.load() == load:
            return time.monotonic() - began
        time.sleep(0.01)
    raise AssertionError(f"load still {server.app.pool.load()} after {within}s, wanted {load}")


def test_an_expired_deadline_stops_the_work_and_frees_its_place(
    server: SimulationHarness,
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        server.stub.Simulate(big_request(), timeout=0.5)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    wait_for_load(server, PoolLoad(running=0, waiting=0), within=PROMPTLY)
    reply = server.stub.Simulate(small_request(), timeout=30)  # the place is free again
    assert reply.run.paths == 1000


def test_a_cancelled_call_stops_the_work_and_frees_its_place(server: SimulationHarness) -> None:
    call = server.stub.Simulate.future(big_request(), timeout=120)
    wait_for_load(server, PoolLoad(running=1, waiting=0), within=10)
    call.cancel()
    wait_for_load(server, PoolLoad(running=0, waiting=0), within=PROMPTLY)
    assert call.cancelled()
    assert server.stub.Simulate(small_request(), timeout=30).run.paths == 1000


def test_a_full_pool_refuses_at_once_and_health_stays_responsive(
    server: SimulationHarness,
) -> None:
    call = server.stub.Simulate.future(big_request(), timeout=120)
    try:
        wait_for_load(server, PoolLoad(running=1, waiting=0), within=10)
        with pytest.raises(grpc.RpcError) as caught:
            server.stub.Compare(pb.CompareRequest(household=example_household()), timeout=PROMPTLY)
        error = caught.value
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error_reason(error) == "QUEUE_FULL"
        assert "SIMULATION_MAX_CONCURRENT=1" in error.details() and "retry" in error.details()
        health = health_pb2_grpc.HealthStub(server.channel).Check(
            health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=PROMPTLY
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        call.cancel()
    wait_for_load(server, PoolLoad(running=0, waiting=0), within=PROMPTLY)


def test_a_waiting_call_whose_caller_left_never_runs() -> None:
    """One runs, one waits; the waiting caller gives up: its run is dropped, not started."""
    settings = SimulationServiceSettings(max_concurrent=1, max_queued=1, max_paths=BIG)
    with simulation_server(settings) as server:
        running = server.stub.Simulate.future(big_request(), timeout=120)
        wait_for_load(server, PoolLoad(running=1, waiting=0), within=10)
        waiting = server.stub.Simulate.future(big_request(), timeout=120)
        wait_for_load(server, PoolLoad(running=1, waiting=1), within=10)
        waiting.cancel()
        running.cancel()
        wait_for_load(server, PoolLoad(running=0, waiting=0), within=PROMPTLY)
        assert server.stub.Simulate(small_request(), timeout=30).run.paths == 1000


def test_stopping_the_server_stops_running_work() -> None:
    """SIGTERM's path: after the grace period the running simulation stops, not finishes."""
    settings = SimulationServiceSettings(max_concurrent=1, max_queued=0, max_paths=BIG)
    with simulation_server(settings) as server:
        call = server.stub.Simulate.future(big_request(), timeout=120)
        wait_for_load(server, PoolLoad(running=1, waiting=0), within=10)
        began = time.monotonic()
        server.running.stop(grace=0.2)
        assert time.monotonic() - began < PROMPTLY
        assert server.app.pool.load() == PoolLoad(running=0, waiting=0)
        with pytest.raises(grpc.RpcError):
            call.result(timeout=PROMPTLY)
