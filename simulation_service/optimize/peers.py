"""The simulation service's two peers for Optimize: the model registry and the training service.

Small client classes so that the orchestration (``flow``) reads as the story it tells and
can be tested with fakes. Every call carries a deadline (the smaller of the peer's own and
what is left of the caller's); a failure becomes a domain error whose message names the
peer and its address, so a client sees "the model registry at 127.0.0.1:50053 is
unreachable" and never a stack trace. Streaming calls are registered with the caller's
``Interrupt`` so that a cancelled Optimize stops waiting at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import grpc

from glidepath import errors
from glidepath.common.v1 import household_pb2, model_pb2
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rpc.channel import open_channel
from glidepath.rpc.status import error_reason
from glidepath.training.v1 import training_pb2, training_pb2_grpc
from simulation_service.optimize.interrupt import Interrupt

REGISTRY_TITLE = "the model registry"
TRAINING_TITLE = "the training service"
#: A model larger than this is refused while downloading (the registry's own cap is lower).
MAX_MODEL_BYTES = 64 * 1024 * 1024
_UNREACHABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def peer_error(error: grpc.RpcError, title: str, address: str) -> errors.GlidepathError:
    """A peer's failure as a domain error naming the peer; the peer's reason is kept."""
    code = error.code()
    details = error.details() or code.name
    reason = error_reason(error)
    if code in _UNREACHABLE:
        return errors.Unavailable(
            f"{title} at {address} is unreachable or did not answer in time "
            f"({code.name}: {details}); check that it runs and that the address is right"
        )
    if code == grpc.StatusCode.NOT_FOUND:
        return errors.NotFound(details, reason=reason)
    if code == grpc.StatusCode.ALREADY_EXISTS:
        return errors.AlreadyExists(details, reason=reason)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return errors.ResourceExhausted(f"{title} is busy: {details}", reason=reason)
    if code == grpc.StatusCode.CANCELLED:
        return errors.Cancelled(f"the call to {title} was cancelled")
    return errors.FailedPrecondition(f"{title} at {address} answered {code.name}: {details}")


@dataclass(frozen=True)
class PeerDeadlines:
    """Seconds allowed for one call: quick ones, model transfers, a whole training watch."""

    call: float = 30.0
    training: float = 1800.0


class RegistryPeer:
    """Find, describe and download models (read-only: no token needed)."""

    def __init__(self, address: str, deadlines: PeerDeadlines = PeerDeadlines()) -> None:
        self.address = address
        self._deadlines = deadlines
        self._channel = open_channel(address)
        self._stub = registry_pb2_grpc.ModelRegistryStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def find(
        self, model_hash: str, min_episodes: int, interrupt: Interrupt
    ) -> model_pb2.ModelMetadata:
        """The best compatible model; NotFound carries the registry's reason when none."""
        request = registry_pb2.FindCompatibleModelRequest(
            model_hash=model_hash, min_episodes=min_episodes
        )
        try:
            reply = self._stub.FindCompatibleModel(
                request, timeout=interrupt.timeout(self._deadlines.call)
            )
        except grpc.RpcError as error:
            raise self._error(error) from None
        return reply.model  # type: ignore[no-any-return]

    def get(self, ref: model_pb2.ModelRef, interrupt: Interrupt) -> model_pb2.ModelMetadata:
        try:
            reply = self._stub.GetModel(
                registry_pb2.GetModelRequest(ref=ref),
                timeout=interrupt.timeout(self._deadlines.call),
            )
        except grpc.RpcError as error:
            raise self._error(error) from None
        return reply.model  # type: ignore[no-any-return]

    def download(self, ref: model_pb2.ModelRef, interrupt: Interrupt) -> bytes:
        """The model's bytes in memory, checked against the size and SHA-256 declared."""
        stream = self._stub.DownloadModel(
            registry_pb2.DownloadModelRequest(ref=ref),
            timeout=interrupt.timeout(self._deadlines.call),
        )
        chunks: list[bytes] = []
        metadata: model_pb2.ModelMetadata | None = None
        received = 0
        try:
            with interrupt.tracking(stream):
                for message in stream:
                    if message.WhichOneof("content") == "metadata":
                        metadata = message.metadata
                        continue
                    received += len(message.chunk)
                    if received > MAX_MODEL_BYTES:
                        raise errors.ResourceExhausted(
                            f"the model is larger than {MAX_MODEL_BYTES} bytes"
                        )
                    chunks.append(message.chunk)
        except grpc.RpcError as error:
            raise self._error(error) from None
        data = b"".join(chunks)
        digest = hashlib.sha256(data).hexdigest()
        if metadata is None or len(data) != metadata.size_bytes or digest != metadata.sha256:
            raise errors.DataLoss(
                f"{REGISTRY_TITLE} sent {len(data)} bytes with SHA-256 {digest}, which do not "
                "match the model's metadata",
                reason="CHECKSUM_MISMATCH",
            )
        return data

    def _error(self, error: grpc.RpcError) -> errors.GlidepathError:
        return peer_error(error, REGISTRY_TITLE, self.address)


@dataclass(frozen=True)
class StartedJob:
    """A training job this request started or joined."""

    job: training_pb2.TrainingJob
    joined: bool


class TrainingPeer:
    """Start (or join) a training job and follow it to its end."""

    def __init__(self, address: str, deadlines: PeerDeadlines = PeerDeadlines()) -> None:
        self.address = address
        self._deadlines = deadlines
        self._channel = open_channel(address)
        self._stub = training_pb2_grpc.TrainingServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def start(
        self,
        household: household_pb2.Household,
        episodes: int,
        seed: int | None,
        interrupt: Interrupt,
    ) -> StartedJob:
        """StartTraining; AlreadyExists when the registry already holds that model."""
        request = training_pb2.StartTrainingRequest(household=household, episodes=episodes)
        if seed is not None:
            request.seed = seed
        try:
            reply = self._stub.StartTraining(
                request, timeout=interrupt.timeout(self._deadlines.call)
            )
        except grpc.RpcError as error:
            raise self._error(error) from None
        return StartedJob(reply.job, reply.joined)

    def watch(self, job_id: str, interrupt: Interrupt) -> Iterator[training_pb2.TrainingJob]:
        """Every update of the job until its final state (the watch ends there)."""
        stream = self._stub.WatchTraining(
            training_pb2.WatchTrainingRequest(job_id=job_id),
            timeout=interrupt.timeout(self._deadlines.training),
        )
        try:
            with interrupt.tracking(stream):
                for message in stream:
                    yield message.job
        except grpc.RpcError as error:
            interrupt.raise_if_stopped()
            raise self._error(error) from None

    def _error(self, error: grpc.RpcError) -> errors.GlidepathError:
        return peer_error(error, TRAINING_TITLE, self.address)
