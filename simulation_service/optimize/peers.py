"""The peers of Optimize: the model registry and the training service.

Small adapters over ``glidepath.clients`` so that the orchestration (``flow``) reads as
the story it tells and can be tested with fakes. Every call carries a deadline (the
smaller of the peer's own and what is left of the caller's); a failure becomes a domain
error whose message names the peer and its address in one clipped line, so a client sees
"the model registry at 127.0.0.1:50053 is unreachable" and never a stack trace.
Streaming calls are registered with the caller's ``Interrupt`` so that a cancelled
Optimize stops waiting at once.

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

from collections.abc import Iterator
from dataclasses import dataclass

import grpc

from glidepath import errors
from glidepath.auth import SERVICE_TOKEN_VARIABLE, User
from glidepath.clients import Caller, ModelTooLarge, RegistryClient, TrainingClient
from glidepath.clients.registry import read_model
from glidepath.common.v1 import household_pb2, model_pb2
from glidepath.models import DEFAULT_MAX_MODEL_BYTES, MAX_MODEL_BYTES_VARIABLE, ModelKey
from glidepath.registry.v1 import registry_pb2
from glidepath.rpc.channel import open_channel
from glidepath.rpc.status import error_reason
from glidepath.text import one_line
from glidepath.training.v1 import training_pb2
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

    def caller(self, user: User | None) -> Caller:
        """Who a call speaks for: ``user`` (nobody for an anonymous caller), or the
        service itself when None."""
        if user is None:
            return Caller(self.service_token)
        if user.anonymous:
            return Caller()
        return Caller(self.service_token, user.name)

    def acting_for(self, caller: User) -> Metadata:
        """For a call made on behalf of ``caller`` (nothing for an anonymous caller)."""
        return self.caller(caller).metadata

    def own(self) -> Metadata:
        """For the service's own acts (quarantine, a verified evaluation)."""
        return self.caller(None).metadata


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
        self._client = RegistryClient(open_channel(address))

    def close(self) -> None:
        self._client.channel.close()

    def _as(self, caller: User | None) -> RegistryClient:
        """The registry client speaking for ``caller`` (None: the service itself)."""
        return self._client.as_caller(self._credentials.caller(caller))

    def find(
        self,
        model_hash: str,
        min_episodes: int,
        max_candidates: int,
        caller: User,
        interrupt: Interrupt,
    ) -> list[model_pb2.ModelMetadata]:
        """The compatible models, best first; NotFound with the registry's reason when none."""
        try:
            return self._as(caller).find(
                model_hash,
                min_episodes,
                max_candidates,
                timeout=interrupt.timeout(self._deadlines.call),
            )
        except grpc.RpcError as error:
            raise self._error(error) from None

    def quarantined(
        self, model_hash: str, min_episodes: int, caller: User, interrupt: Interrupt
    ) -> list[model_pb2.ModelMetadata]:
        """The caller's quarantined models of the hash with enough episodes (first page)."""
        try:
            reply = self._as(caller).list(
                registry_pb2.ListModelsRequest(model_hash=model_hash, page_size=100),
                timeout=interrupt.timeout(self._deadlines.call),
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
            return self._as(caller).find_near(
                request, timeout=interrupt.timeout(self._deadlines.call)
            )
        except grpc.RpcError as error:
            raise self._error(error) from None

    def get(
        self, ref: model_pb2.ModelRef, caller: User, interrupt: Interrupt
    ) -> model_pb2.ModelMetadata:
        try:
            return self._as(caller).get(ref, timeout=interrupt.timeout(self._deadlines.call))
        except grpc.RpcError as error:
            raise self._error(error) from None

    def download(self, model: model_pb2.ModelMetadata, caller: User, interrupt: Interrupt) -> bytes:
        """The model's bytes in memory, checked against the size limit (before the first
        byte, and as they arrive), and against the size and SHA-256 the registry declares."""
        if model.size_bytes > self.max_model_bytes:
            raise too_large(model, model.size_bytes, self.max_model_bytes)
        stream = self._as(caller).download_stream(
            model.ref, timeout=interrupt.timeout(self._deadlines.call)
        )
        chunks: list[bytes] = []
        try:
            with interrupt.tracking(stream):
                read_model(stream, chunks.append, self.max_model_bytes)
        except ModelTooLarge as large:
            raise too_large(model, large.received, self.max_model_bytes) from None
        except grpc.RpcError as error:
            raise self._error(error) from None
        return b"".join(chunks)

    def quarantine(
        self, model: model_pb2.ModelMetadata, why: str, interrupt: Interrupt
    ) -> model_pb2.ModelMetadata:
        """QuarantineModel for bytes that failed here (the service's own credential)."""
        try:
            return self._as(None).quarantine(
                model, one_line(why, 500), timeout=interrupt.timeout(self._deadlines.call)
            )
        except grpc.RpcError as error:
            raise self._error(error) from None

    def record_evaluation(
        self,
        model: model_pb2.ModelMetadata,
        evaluation: model_pb2.ModelEvaluation,
        interrupt: Interrupt,
    ) -> model_pb2.ModelMetadata:
        """RecordEvaluation: a score this service computed on the hash's evaluation lives."""
        try:
            return self._as(None).record_evaluation(
                model, evaluation, timeout=interrupt.timeout(self._deadlines.call)
            )
        except grpc.RpcError as error:
            raise self._error(error) from None

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
        self._client = TrainingClient(open_channel(address))

    def close(self) -> None:
        self._client.channel.close()

    def _as(self, caller: User) -> TrainingClient:
        return self._client.as_caller(self._credentials.caller(caller))

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
            reply = self._as(caller).start(request, timeout=interrupt.timeout(self._deadlines.call))
        except grpc.RpcError as error:
            raise self._error(error) from None
        return StartedJob(reply.job, reply.joined)

    def watch(
        self, job_id: str, caller: User, interrupt: Interrupt
    ) -> Iterator[training_pb2.TrainingJob]:
        """Every update of the job until its final state (the watch ends there)."""
        updates = self._as(caller).watch(
            job_id, timeout=interrupt.timeout(self._deadlines.training)
        )
        try:
            with interrupt.tracking(updates):
                yield from updates
        except grpc.RpcError as error:
            interrupt.raise_if_stopped()
            raise self._error(error) from None

    def _error(self, error: grpc.RpcError) -> errors.GlidepathError:
        return peer_error(error, TRAINING_TITLE, self.address)
