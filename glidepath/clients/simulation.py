"""The simulation service's client: simulate one strategy, compare several, optimize.

    simulation = SimulationClient(channel, Caller(token))
    result = simulation.simulate(SimulateRequest(household=..., strategy="merton"))
    table = simulation.compare(CompareRequest(household=..., strategies=[...]))
    pending = simulation.compare_future(request)  # .result() waits; .cancel() stops it
    events = simulation.optimize(OptimizeRequest(household=...))  # Stream of progress
    for event in events: ...                     # the last one carries the result
    events.cancel()                              # stops the optimisation (not the training)

Deadlines: ``Deadlines.transfer`` for Simulate and Compare (they run the Monte Carlo),
``Deadlines.stream`` for a whole Optimize, training included.
"""

from __future__ import annotations

import grpc

from glidepath.clients.channel import Client, Stream
from glidepath.simulation.v1 import simulation_pb2, simulation_pb2_grpc


class SimulationClient(Client):
    """The SimulationService, one method per RPC (see the module docstring)."""

    def _make_stub(self, channel: grpc.Channel) -> simulation_pb2_grpc.SimulationServiceStub:
        return simulation_pb2_grpc.SimulationServiceStub(channel)

    def simulate(
        self, request: simulation_pb2.SimulateRequest, *, timeout: float | None = None
    ) -> simulation_pb2.SimulateResponse:
        """Simulate: one strategy's outcome for the household."""
        reply: simulation_pb2.SimulateResponse = self._stub.Simulate(
            request, **self._call(timeout, self.deadlines.transfer)
        )
        return reply

    def compare(
        self, request: simulation_pb2.CompareRequest, *, timeout: float | None = None
    ) -> simulation_pb2.CompareResponse:
        """Compare: several strategies on the same simulated lives."""
        reply: simulation_pb2.CompareResponse = self._stub.Compare(
            request, **self._call(timeout, self.deadlines.transfer)
        )
        return reply

    def compare_future(
        self, request: simulation_pb2.CompareRequest, *, timeout: float | None = None
    ) -> grpc.Future:
        """Compare, started and not waited for: ``result()`` waits for the answer and
        ``cancel()`` (from any thread) stops the call, for a caller that must be able to
        stop a long comparison from elsewhere (the web page's cancel button)."""
        future: grpc.Future = self._stub.Compare.future(
            request, **self._call(timeout, self.deadlines.transfer)
        )
        return future

    def optimize(
        self, request: simulation_pb2.OptimizeRequest, *, timeout: float | None = None
    ) -> Stream[simulation_pb2.OptimizeResponse]:
        """Optimize: its progress events, then one carrying the result; ``cancel()`` it to
        stop waiting (a training it started goes on and its model is stored)."""
        stream: Stream[simulation_pb2.OptimizeResponse] = self._stub.Optimize(
            request, **self._call(timeout, self.deadlines.stream)
        )
        return stream
