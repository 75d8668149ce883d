"""Helpers for the simulation service's tests: the example household, a loopback server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc
from google.protobuf import json_format

from glidepath.common.v1 import household_pb2
from glidepath.rpc.channel import open_channel, wait_until_serving
from glidepath.rpc.server import RunningServer, start_server
from glidepath.simulation.v1 import simulation_pb2 as pb
from glidepath.simulation.v1 import simulation_pb2_grpc
from simulation_service.app import SimulationApp, build_app
from simulation_service.config import SimulationServiceSettings
from simulation_service.service import SERVICE_NAME

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "household.json"


def example_household() -> household_pb2.Household:
    """``examples/household.json`` through the protobuf JSON mapping, as a client sends it."""
    return json_format.Parse(EXAMPLE.read_text(), household_pb2.Household())


@dataclass
class SimulationHarness:
    """A real simulation service on a loopback port, its stub and its work pool."""

    app: SimulationApp
    running: RunningServer
    channel: grpc.Channel
    stub: simulation_pb2_grpc.SimulationServiceStub


@contextmanager
def simulation_server(settings: SimulationServiceSettings) -> Iterator[SimulationHarness]:
    app = build_app(settings)
    running = start_server(app.spec, "127.0.0.1", 0)
    channel = open_channel(f"127.0.0.1:{running.port}")
    try:
        wait_until_serving(channel, SERVICE_NAME, timeout=10)
        yield SimulationHarness(
            app, running, channel, simulation_pb2_grpc.SimulationServiceStub(channel)
        )
    finally:
        channel.close()
        running.stop(grace=1.0)


M = TypeVar("M", pb.SimulateResponse, pb.CompareResponse, pb.StrategyResult)


def without_timings(message: M) -> M:
    """A copy without wall-clock seconds: what must be identical between equal runs."""
    copy = type(message)()
    copy.CopyFrom(message)
    if isinstance(copy, pb.StrategyResult):
        copy.ClearField("seconds")
        return copy
    copy.run.ClearField("seconds")
    results = [copy.result] if isinstance(copy, pb.SimulateResponse) else list(copy.results)
    for result in results:
        result.ClearField("seconds")
    return copy
