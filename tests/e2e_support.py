"""Helpers for the end-to-end tests: call Optimize on a real stack and read its stream."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
from google.protobuf import json_format
from simulation_support import EXAMPLE

from glidepath.common.v1 import household_pb2
from glidepath.rpc.channel import open_channel
from glidepath.simulation.v1 import simulation_pb2 as pb
from glidepath.simulation.v1 import simulation_pb2_grpc

# Small but honest budgets: >= 500 episodes where option B must accept the model, and
# few evaluation lives so the suite stays fast.
EPISODES = 600
EVALUATION_PATHS = 1000
OPTIMIZE_DEADLINE = 240.0


def household(risk_aversion: float | None = None) -> household_pb2.Household:
    """The example household; another risk aversion gives another hash (an unknown one)."""
    message = json_format.Parse(EXAMPLE.read_text(), household_pb2.Household())
    if risk_aversion is not None:
        message.risk_aversion = risk_aversion
    return message


@dataclass
class Stream:
    """What one Optimize call sent: its events in order, and the result."""

    events: list[pb.OptimizeEvent] = field(default_factory=list)
    result: pb.OptimizeResult | None = None

    @property
    def stages(self) -> list[str]:
        return [pb.OptimizeStage.Name(e.stage).removeprefix("OPTIMIZE_STAGE_") for e in self.events]

    def answer(self) -> pb.OptimizeResult:
        assert self.result is not None, self.stages
        return self.result


def optimize(address: str, request: pb.OptimizeRequest, stream: Stream | None = None) -> Stream:
    """Call Optimize and collect the stream; a failed call raises grpc.RpcError.

    Pass ``stream`` to keep the events that arrived before a failure.
    """
    stream = stream if stream is not None else Stream()
    channel = open_channel(address)
    try:
        stub = simulation_pb2_grpc.SimulationServiceStub(channel)
        for message in stub.Optimize(request, timeout=OPTIMIZE_DEADLINE):
            if message.WhichOneof("content") == "event":
                stream.events.append(message.event)
            else:
                assert stream.result is None, "two results"
                stream.result = message.result
    finally:
        channel.close()
    return stream


def request(
    message: household_pb2.Household,
    *,
    pretrained: bool,
    episodes: int = EPISODES,
    fallback: bool | None = None,
    seed: int = 0,
) -> pb.OptimizeRequest:
    out = pb.OptimizeRequest(
        household=message,
        use_pretrained=pretrained,
        episodes=episodes,
        settings=pb.SimulationSettings(paths=EVALUATION_PATHS, seed=seed),
        training_seed=1,
    )
    if fallback is not None:
        out.fallback_to_training = fallback
    return out


def failure(address: str, message: pb.OptimizeRequest) -> tuple[grpc.RpcError, Stream]:
    """The error of a call expected to fail, and the events sent before it."""
    stream = Stream()
    try:
        optimize(address, message, stream)
    except grpc.RpcError as error:
        return error, stream
    raise AssertionError(f"the call succeeded: {stream.stages}")
