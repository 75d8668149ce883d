"""Optimize through a real simulation server whose peers are a black hole: limits, deadlines."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from simulation_support import example_household, simulation_server

from glidepath.rpc.status import error_reason
from glidepath.simulation.v1 import simulation_pb2 as pb
from simulation_service.config import SimulationServiceSettings


@pytest.fixture
def black_hole() -> Iterator[str]:
    """An address that accepts connections and never answers (a hung peer)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"127.0.0.1:{listener.getsockname()[1]}"


def option_a() -> pb.OptimizeRequest:
    return pb.OptimizeRequest(household=example_household(), episodes=600)


def test_a_hung_peer_is_unavailable_after_the_peer_deadline(black_hole: str) -> None:
    settings = SimulationServiceSettings(
        registry_addr=black_hole, training_addr=black_hole, peer_deadline_seconds=1.0
    )
    with simulation_server(settings) as harness:
        began = time.monotonic()
        with pytest.raises(grpc.RpcError) as raised:
            list(harness.stub.Optimize(option_a(), timeout=30))
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "training service" in (raised.value.details() or "")
        assert black_hole in (raised.value.details() or "")
        assert time.monotonic() - began < 20


def test_optimisations_beyond_the_limit_are_refused_at_once(black_hole: str) -> None:
    settings = SimulationServiceSettings(
        registry_addr=black_hole,
        training_addr=black_hole,
        peer_deadline_seconds=5.0,
        optimize_max_concurrent=1,
    )
    with simulation_server(settings) as harness:
        first = harness.stub.Optimize(option_a(), timeout=30)
        started = threading.Event()

        def drain() -> None:
            try:
                for _ in first:
                    started.set()
            except grpc.RpcError:
                pass

        worker = threading.Thread(target=drain)
        worker.start()
        assert started.wait(10)  # the first call holds its place (HASHED sent)
        with pytest.raises(grpc.RpcError) as raised:
            list(harness.stub.Optimize(option_a(), timeout=30))
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error_reason(raised.value) == "QUEUE_FULL"
        assert "OPTIMIZE_MAX_CONCURRENT" in (raised.value.details() or "")
        first.cancel()
        worker.join(10)
