"""Optimize as a story: find or train a model, load it, judge it, answer.

Plain Python over two small peer clients, a policy cache and an evaluation function, so
that each step can be tested with fakes and the servicer stays a few lines. ``run`` is a
generator of stream messages: one event per stage reached (and per training update), then
exactly one result. A failure is raised as a domain error after the events already sent,
so a client sees how far the call got and then a clear status.

Option B looks the model up; without one it trains (fallback on) or fails with NOT_FOUND
carrying the registry's reason (fallback off). Option A always trains; when the training
service answers ALREADY_EXISTS (the registry already holds that very model: same hash and
episodes, and it keeps one model per name) the stored model is used and the stream says
so. Cancelling the call stops the waiting and the evaluation but never the training job,
which other requests may have joined and whose model the registry will keep.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Protocol

from glidepath import errors
from glidepath.common.v1 import household_pb2, model_pb2
from glidepath.simulation.v1 import simulation_pb2 as pb
from glidepath.training.v1 import training_pb2
from simulation_service.optimize.interrupt import Interrupt
from simulation_service.optimize.judge import Judgement
from simulation_service.optimize.peers import StartedJob
from simulation_service.optimize.policies import PolicyCache
from simulation_service.optimize.request import OptimizeJob

if TYPE_CHECKING:
    from stable_baselines3.common.policies import ActorCriticPolicy

Stage = pb.OptimizeStage
Messages = Generator[pb.OptimizeResponse, None, None]
Evaluate = Callable[
    [OptimizeJob, model_pb2.ModelMetadata, "ActorCriticPolicy", Interrupt], Judgement
]

_FINAL = {
    training_pb2.TRAINING_STATE_SUCCEEDED,
    training_pb2.TRAINING_STATE_FAILED,
    training_pb2.TRAINING_STATE_CANCELLED,
}


class Registry(Protocol):
    address: str

    def find(
        self, model_hash: str, min_episodes: int, interrupt: Interrupt
    ) -> model_pb2.ModelMetadata: ...

    def get(self, ref: model_pb2.ModelRef, interrupt: Interrupt) -> model_pb2.ModelMetadata: ...

    def download(self, ref: model_pb2.ModelRef, interrupt: Interrupt) -> bytes: ...


class Training(Protocol):
    address: str

    def start(
        self,
        household: household_pb2.Household,
        episodes: int,
        seed: int | None,
        interrupt: Interrupt,
    ) -> StartedJob: ...

    def watch(self, job_id: str, interrupt: Interrupt) -> Iterator[training_pb2.TrainingJob]: ...


class Optimizer:
    """Options A and B over the peers; one instance serves every call."""

    def __init__(
        self,
        registry: Registry,
        training: Training,
        policies: PolicyCache,
        evaluate: Evaluate,
    ) -> None:
        self._registry = registry
        self._training = training
        self._policies = policies
        self._evaluate = evaluate

    def run(self, job: OptimizeJob, interrupt: Interrupt) -> Messages:
        """The stream of one call: events, then the result."""
        call = _Call(job)
        yield call.event(Stage.OPTIMIZE_STAGE_HASHED, f"household hash {job.household_hash}")
        metadata, source, job_id = None, pb.MODEL_SOURCE_PRETRAINED, ""
        if job.use_pretrained:
            metadata = yield from self._look_up(call, interrupt)
        if metadata is None:
            metadata, source, job_id = yield from self._train(call, interrupt)
        policy = yield from self._load(call, metadata, interrupt)
        yield call.event(
            Stage.OPTIMIZE_STAGE_EVALUATING,
            f"evaluating the policy and every baseline on {job.settings.paths:,} lives "
            f"(seed {job.settings.seed})",
            model=metadata.ref,
        )
        judgement = self._evaluate(job, metadata, policy, interrupt)
        suffix = " (cached)" if judgement.cached else ""
        call.timings.append(("evaluation" + suffix, judgement.evaluation_seconds))
        call.timings.append(("profile" + suffix, judgement.profile_seconds))
        yield pb.OptimizeResponse(result=call.result(metadata, source, job_id, judgement))

    def _look_up(
        self, call: _Call, interrupt: Interrupt
    ) -> Generator[pb.OptimizeResponse, None, model_pb2.ModelMetadata | None]:
        job = call.job
        yield call.event(
            Stage.OPTIMIZE_STAGE_LOOKING_UP,
            f"asking the model registry at {self._registry.address} for a model of hash "
            f"{job.household_hash} with at least {job.min_episodes} episodes",
        )
        began = time.perf_counter()
        try:
            metadata = self._registry.find(job.household_hash, job.min_episodes, interrupt)
        except errors.NotFound as missing:
            call.timings.append(("lookup", time.perf_counter() - began))
            if not job.fallback_to_training:
                yield call.event(
                    Stage.OPTIMIZE_STAGE_NO_COMPATIBLE_MODEL,
                    f"{missing.message}; fallback_to_training is off",
                )
                raise errors.NotFound(
                    f"no compatible pre-trained model: {missing.message} "
                    "(fallback_to_training is off; turn it on, or run option A)",
                    reason=missing.reason,
                ) from None
            yield call.event(
                Stage.OPTIMIZE_STAGE_NO_COMPATIBLE_MODEL,
                f"{missing.message}; training a new model ({job.episodes} episodes) instead",
            )
            return None
        call.timings.append(("lookup", time.perf_counter() - began))
        yield call.event(
            Stage.OPTIMIZE_STAGE_MODEL_FOUND,
            f"found {metadata.file_name} ({metadata.ref.episodes} episodes)",
            model=metadata.ref,
        )
        return metadata

    def _train(
        self, call: _Call, interrupt: Interrupt
    ) -> Generator[
        pb.OptimizeResponse, None, tuple[model_pb2.ModelMetadata, pb.ModelSource.ValueType, str]
    ]:
        job = call.job
        ref = model_pb2.ModelRef(model_hash=job.household_hash, episodes=job.episodes)
        began = time.perf_counter()
        try:
            started = self._training.start(
                job.household_message, job.episodes, job.training_seed, interrupt
            )
        except errors.AlreadyExists as stored:
            yield call.event(
                Stage.OPTIMIZE_STAGE_ALREADY_TRAINED,
                f"{stored.message}; using the stored model, nothing is trained",
                model=ref,
            )
            metadata = self._registry.get(ref, interrupt)
            call.timings.append(("lookup", time.perf_counter() - began))
            return metadata, pb.MODEL_SOURCE_ALREADY_IN_REGISTRY, ""
        job_id = started.job.job_id
        stage, source, verb = (
            (Stage.OPTIMIZE_STAGE_TRAINING_JOINED, pb.MODEL_SOURCE_JOINED_RUNNING_JOB, "joined")
            if started.joined
            else (Stage.OPTIMIZE_STAGE_TRAINING_STARTED, pb.MODEL_SOURCE_TRAINED_NOW, "started")
        )
        yield call.event(
            stage,
            f"{verb} training job {job_id} on {self._training.address} "
            f"({started.job.episodes_total} episodes)",
            model=started.job.model,
            job_id=job_id,
            training=progress(started.job),
        )
        last = started.job
        for update in self._training.watch(job_id, interrupt):
            last = update
            yield call.event(
                Stage.OPTIMIZE_STAGE_TRAINING_PROGRESS,
                _state_name(update.state),
                model=update.model,
                job_id=job_id,
                training=progress(update),
            )
        call.timings.append(("training", time.perf_counter() - began))
        return _trained_model(last), source, job_id

    def _load(
        self, call: _Call, metadata: model_pb2.ModelMetadata, interrupt: Interrupt
    ) -> Generator[pb.OptimizeResponse, None, ActorCriticPolicy]:
        cached = self._policies.get(metadata.sha256)
        if cached is not None:
            yield call.event(
                Stage.OPTIMIZE_STAGE_LOADING,
                f"{metadata.file_name} is already loaded in memory (same SHA-256): no download",
                model=metadata.ref,
            )
            call.timings.append(("load", 0.0))
            return cached
        yield call.event(
            Stage.OPTIMIZE_STAGE_DOWNLOADING,
            f"downloading {metadata.file_name} ({metadata.size_bytes:,} bytes)",
            model=metadata.ref,
        )
        began = time.perf_counter()
        data = self._registry.download(metadata.ref, interrupt)
        call.timings.append(("download", time.perf_counter() - began))
        yield call.event(
            Stage.OPTIMIZE_STAGE_LOADING,
            "loading the policy's weights (rebuilt from trusted configuration, nothing unpickled)",
            model=metadata.ref,
        )
        began = time.perf_counter()
        policy = self._policies.load(metadata.sha256, data)
        call.timings.append(("load", time.perf_counter() - began))
        return policy


class _Call:
    """One call's clock, timings and message builders."""

    def __init__(self, job: OptimizeJob) -> None:
        self.job = job
        self.began = time.perf_counter()
        self.timings: list[tuple[str, float]] = []

    def event(
        self,
        stage: pb.OptimizeStage.ValueType,
        message: str,
        *,
        model: model_pb2.ModelRef | None = None,
        job_id: str = "",
        training: pb.TrainingProgress | None = None,
    ) -> pb.OptimizeResponse:
        event = pb.OptimizeEvent(
            stage=stage,
            message=message,
            elapsed_seconds=time.perf_counter() - self.began,
            household_hash=self.job.household_hash,
            job_id=job_id,
        )
        if model is not None:
            event.model.CopyFrom(model)
        if training is not None:
            event.training.CopyFrom(training)
        return pb.OptimizeResponse(event=event)

    def result(
        self,
        metadata: model_pb2.ModelMetadata,
        source: pb.ModelSource.ValueType,
        job_id: str,
        judgement: Judgement,
    ) -> pb.OptimizeResult:
        return pb.OptimizeResult(
            household_hash=self.job.household_hash,
            model=metadata,
            source=source,
            training_job_id=job_id,
            gate=judgement.gate,
            recommended=judgement.recommended,
            comparison=judgement.comparison,
            timings=[pb.StageTiming(stage=s, seconds=t) for s, t in self.timings],
            total_seconds=time.perf_counter() - self.began,
        )


def progress(job: training_pb2.TrainingJob) -> pb.TrainingProgress:
    """The training service's job, as the Optimize stream relays it."""
    message = pb.TrainingProgress(
        state=job.state,
        episodes_done=job.episodes_done,
        episodes_total=job.episodes_total,
        timesteps=job.timesteps,
        elapsed_seconds=job.elapsed_seconds,
        message=job.message,
    )
    if job.HasField("mean_episode_reward"):
        message.mean_episode_reward = job.mean_episode_reward
    if job.HasField("estimated_seconds_left"):
        message.estimated_seconds_left = job.estimated_seconds_left
    return message


def _state_name(state: training_pb2.TrainingState.ValueType) -> str:
    return training_pb2.TrainingState.Name(state).removeprefix("TRAINING_STATE_")


def _trained_model(job: training_pb2.TrainingJob) -> model_pb2.ModelMetadata:
    """The registry model a finished job names; a clear error for any other ending."""
    if job.state == training_pb2.TRAINING_STATE_SUCCEEDED:
        return job.registered_model
    if job.state == training_pb2.TRAINING_STATE_CANCELLED:
        raise errors.Cancelled(f"training job {job.job_id} was cancelled (CancelTraining)")
    if job.state == training_pb2.TRAINING_STATE_FAILED:
        raise errors.FailedPrecondition(f"training job {job.job_id} failed: {job.message}")
    assert job.state not in _FINAL
    raise errors.Unavailable(
        f"the training service ended the watch of job {job.job_id} while it was "
        f"{_state_name(job.state)}; the job goes on, watch it with WatchTraining"
    )
