"""The peers of Optimize: the model registry and the training service.

Small client classes so that the orchestration (``flow``) reads as the story it tells and
can be tested with fakes. Every call carries a deadline (the smaller of the peer's own and
what is left of the caller's); a failure becomes a domain error whose message names the
peer and its address in one clipped line, so a client sees "the model registry at
127.0.0.1:50053 is unreachable" and never a stack trace. Streaming calls are registered
with the caller's ``Interrupt`` so that a cancelled Optimize stops waiting at once.

Credentials (``Credentials``): a call made for a user carries the service's own token
(GLIDEPATH_SERVICE_TOKEN) and ``glidepath-on-behalf-of: <user>``, so that the training job
and the model it stores belong to that user and the registry shows them only the models
they may read. A call for an anonymous caller carries no credential at all: it reads what
everyone may read, never more. Quarantining a model and recording a verified evaluation
are the service's own acts and carry its token alone.

Sizes: a model larger than RL_MODELS_MAX_BYTES (the limit every service shares) is
refused before its first byte is downloaded, from the size in its metadata, and again if
the stream runs past it: FAILED_PRECONDITION with reason TOO_LARGE (a permanent
condition, not "retry later").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import grpc

from glidepath import errors
from glidepath.auth import ON_BEHALF_OF_METADATA, SERVICE_TOKEN_VARIABLE, User
from glidepath.common.v1 import household_pb2, model_pb2
from glidepath.models import DEFAULT_MAX_MODEL_BYTES, MAX_MODEL_BYTES_VARIABLE, ModelKey
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rpc.channel import bearer, open_channel
from glidepath.rpc.status import error_reason
from glidepath.text import one_line
from glidepath.training.v1 import training_pb2, training_pb2_grpc
from simulation_service.optimize.interrupt import Interrupt

REGISTRY_TITLE = "the model registry"
TRAINING_TITLE = "the training service"
_UNREACHABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
_REFUSED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
Metadata = tuple[tuple[str, str], ...]


def peer_error(error: grpc.RpcError, title: str, address: str) -> errors.GlidepathError:
    """A peer's failure as a domain error naming the peer; the peer's reason is kept."""
    code = error.code()
    details = one_line(error.details() or code.name, 300)
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
    if code in _REFUSED:
        return errors.FailedPrecondition(
            f"{title} at {address} refused the simulation service's credential "
            f"({code.name}: {details}); the operator sets {SERVICE_TOKEN_VARIABLE} to a "
            "token of role service",
            reason="PEER_REFUSED_CREDENTIAL",
        )
    if code == grpc.StatusCode.DATA_LOSS:
        return errors.DataLoss(f"{title} at {address}: {details}", reason=reason)
    keep = reason if code == grpc.StatusCode.FAILED_PRECONDITION else None
    return errors.FailedPrecondition(
        f"{title} at {address} answered {code.name}: {details}", reason=keep
    )


@dataclass(frozen=True)
class PeerDeadlines:
    """Seconds allowed for one call: quick ones, model transfers, a whole training watch."""

    call: float = 30.0
    training: float = 1800.0


@dataclass(frozen=True)
class Credentials:
    """What the simulation service presents to its peers."""

    service_token: str | None = None

    def acting_for(self, caller: User) -> Metadata:
        """For a call made on behalf of ``caller`` (nothing for an anonymous caller)."""
        if caller.anonymous:
            return ()
        return (*bearer(self.service_token), (ON_BEHALF_OF_METADATA, caller.name))

    def own(self) -> Metadata:
        """For the service's own acts (quarantine, a verified evaluation)."""
        return bearer(self.service_token)


def too_large(
    metadata: model_pb2.ModelMetadata, size: int, limit: int
) -> errors.FailedPrecondition:
    return errors.FailedPrecondition(
        f"{metadata.file_name} is {size:,} bytes, larger than the {limit:,} bytes models may "
        f"have ({MAX_MODEL_BYTES_VARIABLE})",
        reason="TOO_LARGE",
    )


class RegistryPeer:
    """Find, describe, download, quarantine and score models."""

    def __init__(
        self,
        address: str,
        deadlines: PeerDeadlines = PeerDeadlines(),
        credentials: Credentials = Credentials(),
        max_model_bytes: int = DEFAULT_MAX_MODEL_BYTES,
    ) -> None:
        self.address = address
        self.max_model_bytes = max_model_bytes
        self._deadlines = deadlines
        self._credentials = credentials
        self._channel = open_channel(address)
        self._stub = registry_pb2_grpc.ModelRegistryStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def find(
        self,
        model_hash: str,
        min_episodes: int,
        max_candidates: int,
        caller: User,
        interrupt: Interrupt,
    ) -> list[model_pb2.ModelMetadata]:
        """The compatible models, best first; NotFound with the registry's reason when none."""
        request = registry_pb2.FindCompatibleModelRequest(
            model_hash=model_hash, min_episodes=min_episodes, max_candidates=max_candidates
        )
        try:
            reply = self._stub.FindCompatibleModel(
                request,
                timeout=interrupt.timeout(self._deadlines.call),
                metadata=self._credentials.acting_for(caller),
            )
        except grpc.RpcError as error:
            raise self._error(error) from None
        return list(reply.candidates) or [reply.model]

    def quarantined(
        self, model_hash: str, min_episodes: int, caller: User, interrupt: Interrupt
    ) -> list[model_pb2.ModelMetadata]:
        """The caller's quarantined models of the hash with enough episodes (first page)."""
        try:
            reply = self._stub.ListModels(
                registry_pb2.ListModelsRequest(model_hash=model_hash, page_size=100),
                timeout=interrupt.timeout(self._deadlines.call),
                metadata=self._credentials.acting_for(caller),
            )
        except grpc.RpcError as error:
            raise self._error(error) from None
        return [m for m in reply.models if m.quarantine_reason and m.ref.episodes >= min_episodes]

    def find_near(
        self,
        features: tuple[float, ...],
        features_version: int,
        max_candidates: int,
        min_episodes: int,
        exclude_hash: str,
        caller: User,
        interrupt: Interrupt,
    ) -> list[tuple[model_pb2.ModelMetadata, float]]:
        """FindNearModels: profile models of near households and their distances, nearest
        first; an empty list when none is near enough."""
        request = registry_pb2.FindNearModelsRequest(
            features=features,
            features_version=features_version,
            max_candidates=max_candidates,
            min_episodes=min_episodes,
            exclude_hash=exclude_hash,
        )
        try:
            reply = self._stub.FindNearModels(
                request,
                timeout=interrupt.timeout(self._deadlines.call),
                metadata=self._credentials.acting_for(caller),
            )
        except grpc.RpcError as error:
            raise self._error(error) from None
        return [(near.model, near.distance) for near in reply.models]

    def get(
        self, ref: model_pb2.ModelRef, caller: User, interrupt: Interrupt
    ) -> model_pb2.ModelMetadata:
        try:
            reply = self._stub.GetModel(
                registry_pb2.GetModelRequest(ref=ref),
                timeout=interrupt.timeout(self._deadlines.call),
                metadata=self._credentials.acting_for(caller),
            )
        except grpc.RpcError as error:
            raise self._error(error) from None
        return reply.model  # type: ignore[no-any-return]

    def download(self, model: model_pb2.ModelMetadata, caller: User, interrupt: Interrupt) -> bytes:
        """The model's bytes in memory, checked against the size limit (before the first
        byte), and against the size and SHA-256 the registry declares."""
        if model.size_bytes > self.max_model_bytes:
            raise too_large(model, model.size_bytes, self.max_model_bytes)
        stream = self._stub.DownloadModel(
            registry_pb2.DownloadModelRequest(ref=model.ref),
            timeout=interrupt.timeout(self._deadlines.call),
            metadata=self._credentials.acting_for(caller),
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
                    if received > self.max_model_bytes:
                        stream.cancel()
                        raise too_large(model, received, self.max_model_bytes)
                    chunks.append(message.chunk)
        except grpc.RpcError as error:
            raise self._error(error) from None
        data = b"".join(chunks)
        digest = hashlib.sha256(data).hexdigest()
        if metadata is None or len(data) != metadata.size_bytes or digest != metadata.sha256:
            raise errors.DataLoss(
                f"{REGISTRY_TITLE} sent {len(data):,} bytes of {model.file_name} with SHA-256 "
                f"{digest}, which do not match the model's metadata (damaged in the registry?)",
                reason="CHECKSUM_MISMATCH",
            )
        return data

    def quarantine(
        self, model: model_pb2.ModelMetadata, why: str, interrupt: Interrupt
    ) -> model_pb2.ModelMetadata:
        """QuarantineModel for bytes that failed here (the service's own credential)."""
        request = registry_pb2.QuarantineModelRequest(
            ref=model.ref, sha256=model.sha256, reason=one_line(why, 500)
        )
        try:
            reply = self._stub.QuarantineModel(
                request,
                timeout=interrupt.timeout(self._deadlines.call),
                metadata=self._credentials.own(),
            )
        except grpc.RpcError as error:
            raise self._error(error) from None
        return reply.model  # type: ignore[no-any-return]

    def record_evaluation(
        self,
        model: model_pb2.ModelMetadata,
        evaluation: model_pb2.ModelEvaluation,
        interrupt: Interrupt,
    ) -> model_pb2.ModelMetadata:
        """RecordEvaluation: a score this service computed on the hash's evaluation lives."""
        request = registry_pb2.RecordEvaluationRequest(
            ref=model.ref, sha256=model.sha256, evaluation=evaluation
        )
        try:
            reply = self._stub.RecordEvaluation(
                request,
                timeout=interrupt.timeout(self._deadlines.call),
                metadata=self._credentials.own(),
            )
        except grpc.RpcError as error:
            raise self._error(error) from None
        return reply.model  # type: ignore[no-any-return]

    def _error(self, error: grpc.RpcError) -> errors.GlidepathError:
        return peer_error(error, REGISTRY_TITLE, self.address)


@dataclass(frozen=True)
class StartedJob:
    """A training job this request started or joined."""

    job: training_pb2.TrainingJob
    joined: bool


class TrainingPeer:
    """Start (or join) a training job for a user and follow it to its end."""

    def __init__(
        self,
        address: str,
        deadlines: PeerDeadlines = PeerDeadlines(),
        credentials: Credentials = Credentials(),
    ) -> None:
        self.address = address
        self._deadlines = deadlines
        self._credentials = credentials
        self._channel = open_channel(address)
        self._stub = training_pb2_grpc.TrainingServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def start(
        self,
        household: household_pb2.Household,
        episodes: int,
        seed: int | None,
        caller: User,
        interrupt: Interrupt,
        parent: ModelKey | None = None,
    ) -> StartedJob:
        """StartTraining (a fine-tuning of ``parent`` when given); AlreadyExists when the
        registry already holds that model."""
        request = training_pb2.StartTrainingRequest(household=household, episodes=episodes)
        if seed is not None:
            request.seed = seed
        if parent is not None:
            request.parent.CopyFrom(
                model_pb2.ModelRef(model_hash=parent.model_hash, episodes=parent.episodes)
            )
        try:
            reply = self._stub.StartTraining(
                request,
                timeout=interrupt.timeout(self._deadlines.call),
                metadata=self._credentials.acting_for(caller),
            )
        except grpc.RpcError as error:
            raise self._error(error) from None
        return StartedJob(reply.job, reply.joined)

    def watch(
        self, job_id: str, caller: User, interrupt: Interrupt
    ) -> Iterator[training_pb2.TrainingJob]:
        """Every update of the job until its final state (the watch ends there)."""
        stream = self._stub.WatchTraining(
            training_pb2.WatchTrainingRequest(job_id=job_id),
            timeout=interrupt.timeout(self._deadlines.training),
            metadata=self._credentials.acting_for(caller),
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
