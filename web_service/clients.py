"""The web service's only door to the three services: their gRPC contracts.

Every call the pages make goes through :class:`Peers`, one small method per RPC over the
typed clients the CLI uses too (``glidepath.clients``): one long-lived channel per
service, opened at start-up, and each call made ``as_caller`` the credential typed on
the page (else GLIDEPATH_TOKEN), with a deadline. A failed call becomes a
:class:`PeerError` holding one line a person can act on and the HTTP status it maps to;
the routers show that line and never a traceback.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import grpc

from glidepath.advice.convert import recommended_result
from glidepath.advice.strategies import words
from glidepath.cli.errors import one_line
from glidepath.clients import Caller, Deadlines, RegistryClient, SimulationClient, TrainingClient
from glidepath.common.v1 import model_pb2
from glidepath.registry.v1 import registry_pb2
from glidepath.rpc.channel import open_channel
from glidepath.rpc.status import bad_fields
from glidepath.simulation.v1 import simulation_pb2 as sim
from glidepath.training.v1 import training_pb2
from web_service.config import WebServiceSettings

# Finished trainings read to measure this machine's speed (newest first), and how long
# that measure is kept: the form shows it on every load, and it changes only when a
# training ends, so one ListTrainings call serves the loads of SPEED_TTL_SECONDS.
SPEED_SAMPLE = 20
SPEED_TTL_SECONDS = 10.0
# The form waits at most this long for the measure (else it shows the first guess): a
# training service that hangs must not hold the form's first byte for a whole deadline.
SPEED_DEADLINE_SECONDS = 2.0
# Deleting a model costs about 2 ms on the development machine's disk (two fsyncs); a
# cleanup's deadline grows by this much per model, with a wide margin for slow disks.
SECONDS_PER_DELETED_MODEL = 0.05

# gRPC status -> HTTP status of the page or API answer that reports it.
_HTTP = {
    grpc.StatusCode.INVALID_ARGUMENT: 422,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


class PeerError(Exception):
    """A failed call to one service, as one line and an HTTP status."""

    def __init__(self, message: str, http_status: int, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.fields = fields or []


def describe(error: grpc.RpcError, title: str, address: str) -> PeerError:
    """The line a page shows for a failed call to ``title`` at ``address``."""
    code: grpc.StatusCode = error.code()
    details = one_line(error.details() or "")
    if code == grpc.StatusCode.UNAVAILABLE:
        message = f"cannot reach the {title} at {address}: {details or 'no answer'}"
    elif code == grpc.StatusCode.UNAUTHENTICATED:
        message = f"the {title} refused the call: {details} (give a valid credential)"
    elif code == grpc.StatusCode.PERMISSION_DENIED:
        message = f"the {title} denied the call: {details} (this credential may not do it)"
    else:
        message = f"the {title}: {details or 'no details'} ({code.name})"
    return PeerError(message, _HTTP.get(code, 502), bad_fields(error))


class OptimizeCall(Protocol):
    """A running Optimize stream: its messages, and a way to stop it."""

    def __iter__(self) -> Iterator[sim.OptimizeResponse]: ...

    def cancel(self) -> bool: ...


class CompareCall:
    """Compare (one answer) read as a run: an EVALUATING event, then the answer as an
    OptimizeResult that recommends the strategy with the highest objective CE, with no
    model and no gate (the household did not ask for a trained policy)."""

    def __init__(self, future: grpc.Future) -> None:
        self._future = future

    def __iter__(self) -> Iterator[sim.OptimizeResponse]:
        yield sim.OptimizeResponse(
            event=sim.OptimizeEvent(
                stage=sim.OPTIMIZE_STAGE_EVALUATING,
                message="simulating every strategy on the same lives",
            )
        )
        try:
            response: sim.CompareResponse = self._future.result()
        except grpc.FutureCancelledError:
            return
        yield sim.OptimizeResponse(result=compare_result(response))

    def cancel(self) -> bool:
        cancelled: bool = self._future.cancel()
        return cancelled


def compare_result(response: sim.CompareResponse) -> sim.OptimizeResult:
    """A comparison as the result page reads it: ``recommended_result`` recommended (the
    rule of the highest objective CE, as the CLI's ``compare`` and the summary say)."""
    result = sim.OptimizeResult(household_hash=response.household_hash)
    result.comparison.CopyFrom(response)
    result.total_seconds = response.run.seconds
    if response.results:
        best = recommended_result(response.results)
        result.recommended.strategy = best.strategy
        result.recommended.paths = response.run.paths
        result.recommended.reason = (
            f"Of the strategies compared, {words(best.strategy).name} has the highest "
            f"objective certainty equivalent: {best.certainty_equivalent.value:,.0f} a year "
            f"on the same {response.run.paths:,} lives."
        )
    return result


@dataclass(frozen=True)
class TrainingSpeed:
    """Seconds per episode on this stack, and how many finished trainings say so."""

    seconds_per_episode: float
    trainings: int


def speed_of(jobs: Iterable[training_pb2.TrainingJob]) -> TrainingSpeed | None:
    """Seconds of training per episode over finished ``jobs``; None without any.

    The training phase alone (the stored model's training_seconds): a job's elapsed time
    also holds its evaluation and upload, whose cost does not grow with the episodes,
    and would make a short training look slow per episode.
    """
    timed = [j for j in jobs if j.episodes_total and j.registered_model.training_seconds > 0]
    episodes = sum(j.episodes_total for j in timed)
    if not episodes:
        return None
    seconds = sum(j.registered_model.training_seconds for j in timed)
    return TrainingSpeed(seconds / episodes, len(timed))


class Peers:
    """One long-lived channel and client per service, shared by every request's thread;
    each call speaks for the credential typed on the page (``as_caller``), else the
    service's own (GLIDEPATH_TOKEN)."""

    def __init__(self, settings: WebServiceSettings) -> None:
        self.settings = settings
        deadlines = Deadlines(
            call=settings.call_deadline_seconds, stream=settings.optimize_deadline_seconds
        )
        self._channels = [
            open_channel(address)
            for address in (
                settings.simulation_addr,
                settings.training_addr,
                settings.registry_addr,
            )
        ]
        simulation, training, registry = self._channels
        self.simulation = SimulationClient(simulation, deadlines=deadlines)
        self.training = TrainingClient(training, deadlines=deadlines)
        self.registry = RegistryClient(registry, deadlines=deadlines)
        self._speed: tuple[float, TrainingSpeed | None] | None = None
        self._speed_lock = threading.Lock()

    def close(self) -> None:
        for channel in self._channels:
            channel.close()

    def _caller(self, token: str | None) -> Caller:
        return Caller(token or self.settings.token)

    @contextmanager
    def _guard(self, title: str, address: str) -> Iterator[None]:
        try:
            yield
        except grpc.RpcError as error:
            raise describe(error, title, address) from None

    # ------------------------------------------------------------------ simulation

    def optimize(self, request: sim.OptimizeRequest, token: str | None) -> OptimizeCall:
        """Start Optimize; the stream is read (and its failure described) by the caller."""
        return self.simulation.as_caller(self._caller(token)).optimize(request)

    def compare(self, request: sim.CompareRequest, token: str | None) -> OptimizeCall:
        """Start Compare (the rules and the optimum, no trained policy), read as a run."""
        simulation = self.simulation.as_caller(self._caller(token))
        return CompareCall(
            simulation.compare_future(request, timeout=self.settings.optimize_deadline_seconds)
        )

    def describe_simulation(self, error: grpc.RpcError) -> PeerError:
        return describe(error, "simulation service", self.settings.simulation_addr)

    # ------------------------------------------------------------------ training

    def training_speed(self) -> TrainingSpeed | None:
        """Seconds of training per episode over the latest finished trainings; None
        without any (or when the training service cannot say). Kept SPEED_TTL_SECONDS."""
        with self._speed_lock:
            if self._speed is not None and time.monotonic() - self._speed[0] < SPEED_TTL_SECONDS:
                return self._speed[1]
        speed = self._measure_speed()
        with self._speed_lock:
            self._speed = (time.monotonic(), speed)
        return speed

    def _measure_speed(self) -> TrainingSpeed | None:
        request = training_pb2.ListTrainingsRequest(
            page_size=SPEED_SAMPLE, states=[training_pb2.TRAINING_STATE_SUCCEEDED]
        )
        training = self.training.as_caller(self._caller(None))
        try:
            response = training.list(
                request, timeout=min(SPEED_DEADLINE_SECONDS, self.settings.call_deadline_seconds)
            )
        except grpc.RpcError:
            return None
        return speed_of(response.jobs)

    # ------------------------------------------------------------------ registry

    def list_models(
        self, query: registry_pb2.ListModelsRequest, token: str | None = None
    ) -> list[model_pb2.ModelMetadata]:
        """Every page of ListModels for ``query``'s filters."""
        with self._guard("registry", self.settings.registry_addr):
            return list(self._registry_as(token).list_all(query).models)

    def get_model(
        self, ref: model_pb2.ModelRef, token: str | None = None
    ) -> model_pb2.ModelMetadata:
        with self._guard("registry", self.settings.registry_addr):
            return self._registry_as(token).get(ref)

    def delete_model(self, ref: model_pb2.ModelRef, token: str | None) -> model_pb2.ModelMetadata:
        with self._guard("registry", self.settings.registry_addr):
            return self._registry_as(token).delete(ref)

    def cleanup(
        self, max_age_days: int, *, dry_run: bool, planned: int = 0, token: str | None = None
    ) -> registry_pb2.CleanupModelsResponse:
        """One CleanupModels call; a real one's deadline grows with the ``planned`` models."""
        deadline = self.settings.call_deadline_seconds + SECONDS_PER_DELETED_MODEL * planned
        with self._guard("registry", self.settings.registry_addr):
            return self._registry_as(token).cleanup(max_age_days, dry_run=dry_run, timeout=deadline)

    def _registry_as(self, token: str | None) -> RegistryClient:
        return self.registry.as_caller(self._caller(token))
