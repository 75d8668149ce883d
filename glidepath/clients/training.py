"""The training service's client: start a job, follow it, look it up, cancel it.

    training = TrainingClient(channel, Caller(token))
    started = training.start(StartTrainingRequest(household=..., episodes=1000))
    updates = training.watch(started.job.job_id)    # Stream of TrainingJob, until final
    for job in updates: ...                           # updates.cancel() stops watching

A job belongs to the caller (or to the user a service acts for); ``start`` joins the
job already running for the same model (``StartTrainingResponse.joined``) and is refused
with ALREADY_EXISTS when the registry already holds that model. Deadlines:
``Deadlines.call`` for the quick calls, ``Deadlines.stream`` for a whole watch.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from glidepath.clients.channel import Client, Stream
from glidepath.training.v1 import training_pb2, training_pb2_grpc


class JobUpdates:
    """WatchTraining as a cancellable stream of ``TrainingJob`` (the final state last)."""

    def __init__(self, call: Stream[training_pb2.WatchTrainingResponse]) -> None:
        self.call = call

    def __iter__(self) -> Iterator[training_pb2.TrainingJob]:
        return self

    def __next__(self) -> training_pb2.TrainingJob:
        return next(self.call).job

    def cancel(self) -> bool:
        return self.call.cancel()


class TrainingClient(Client):
    """The TrainingService, one method per RPC (see the module docstring)."""

    def _make_stub(self, channel: grpc.Channel) -> training_pb2_grpc.TrainingServiceStub:
        return training_pb2_grpc.TrainingServiceStub(channel)

    def start(
        self, request: training_pb2.StartTrainingRequest, *, timeout: float | None = None
    ) -> training_pb2.StartTrainingResponse:
        """StartTraining (a fine-tuning when ``request.parent`` is set): the job, and
        whether it was joined rather than started."""
        reply: training_pb2.StartTrainingResponse = self._stub.StartTraining(
            request, **self._call(timeout, self.deadlines.call)
        )
        return reply

    def watch(self, job_id: str, *, timeout: float | None = None) -> JobUpdates:
        """WatchTraining: every update of the job until its final state."""
        request = training_pb2.WatchTrainingRequest(job_id=job_id)
        return JobUpdates(
            self._stub.WatchTraining(request, **self._call(timeout, self.deadlines.stream))
        )

    def get(self, job_id: str, *, timeout: float | None = None) -> training_pb2.TrainingJob:
        """GetTraining: the job as it is now."""
        request = training_pb2.GetTrainingRequest(job_id=job_id)
        reply = self._stub.GetTraining(request, **self._call(timeout, self.deadlines.call))
        return reply.job  # type: ignore[no-any-return]

    def list(
        self, request: training_pb2.ListTrainingsRequest, *, timeout: float | None = None
    ) -> training_pb2.ListTrainingsResponse:
        """ListTrainings: one page of the caller's jobs, filtered by the request."""
        reply: training_pb2.ListTrainingsResponse = self._stub.ListTrainings(
            request, **self._call(timeout, self.deadlines.call)
        )
        return reply

    def cancel(
        self, job_id: str, *, timeout: float | None = None
    ) -> training_pb2.CancelTrainingResponse:
        """CancelTraining: the job, and whether the caller only stopped following it
        (``detached``) while others still do."""
        request = training_pb2.CancelTrainingRequest(job_id=job_id)
        reply: training_pb2.CancelTrainingResponse = self._stub.CancelTraining(
            request, **self._call(timeout, self.deadlines.call)
        )
        return reply
