"""Optimize as a story: find or train a model, check it, judge it, answer.

Plain Python over two small peer clients, a policy cache, an evaluation and a scoring
function, so that each step can be tested with fakes and the servicer stays a few lines.
``run`` is a generator of stream messages: one event per stage reached (and per training
update), then exactly one result. A failure is raised as a domain error after the events
already sent, so a client sees how far the call got and then a clear status.

Option B asks the registry for the top few compatible models (best first) and checks
each before it is used: the size limit, the download's SHA-256, weights loaded into the
trusted layout, every tensor finite, finite actions on sample observations. A model that
fails is quarantined in the registry (it stays listed, and is never served or ranked
again), the stream says so in one MODEL_UNUSABLE event, and the next one is tried. When
several pass, each is scored on the household's evaluation lives (the same lives for
every model of the hash) and the best is served; a score the registry did not have is
recorded there as the model's verified evaluation, so its ranking improves. A policy
whose actions turn non-finite while it is judged is treated the same way. With no usable
model left, option B trains (fallback on) or fails: NOT_FOUND with the registry's reason
when it had none, FAILED_PRECONDITION (or DATA_LOSS) with the first model's reason when
it had only unusable ones.

Option A always trains. When the training service answers ALREADY_EXISTS (the registry
already holds that very model) the stored model is checked and used when usable; a
quarantined or unusable one is quarantined and training is asked again, and the training
service trains under a free name. Cancelling the call stops the waiting and the
evaluation but never the training job, which other requests may have joined and whose
model the registry will keep.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from glidepath import errors, log
from glidepath.auth import LOCAL, User
from glidepath.common.v1 import household_pb2, model_pb2
from glidepath.household.canonical import canonicalize
from glidepath.models import ModelKey, fine_tuned_episodes, model_file_name
from glidepath.rl.family import ProfileFamily, contains, family_hash, load_family
from glidepath.rl.features import FEATURES_VERSION, household_features
from glidepath.simulation.v1 import simulation_pb2 as pb
from glidepath.text import one_line
from glidepath.training.v1 import training_pb2
from simulation_service.optimize.interrupt import Interrupt
from simulation_service.optimize.judge import Judgement
from simulation_service.optimize.peers import StartedJob, too_large
from simulation_service.optimize.policies import PolicyCache, UnusableModel
from simulation_service.optimize.request import OptimizeJob

if TYPE_CHECKING:
    from stable_baselines3.common.policies import ActorCriticPolicy

Stage = pb.OptimizeStage
Messages = Generator[pb.OptimizeResponse, None, None]
Evaluate = Callable[
    [OptimizeJob, model_pb2.ModelMetadata, "ActorCriticPolicy", Interrupt], Judgement
]


@dataclass(frozen=True)
class Scored:
    """A model's evaluation on the household's evaluation lives; cached: nothing was run."""

    evaluation: model_pb2.ModelEvaluation
    cached: bool = False


# Scores a model; UnusablePolicy when its actions are not finite on those lives.
Score = Callable[[OptimizeJob, model_pb2.ModelMetadata, "ActorCriticPolicy", Interrupt], Scored]
# Begins, in the background, what the judgement of a job needs before any model exists
# (the baselines on its lives, ``baselines.BaselineWarmer``); called when a training
# starts and when the ladder begins (while its candidates are found and loaded).
Warm = Callable[[OptimizeJob, Interrupt], None]


def _no_warm_up(job: OptimizeJob, interrupt: Interrupt) -> None:
    """Nothing computed ahead: the judgement computes everything itself."""


# Compatible models asked for and checked per call (the registry returns at most 16).
DEFAULT_CANDIDATES = 4
_NEXT = "trying the next compatible model"
_TRAIN = "training a new model instead"
_NONE_LEFT = "no other compatible model is left"
_NEXT_RUNG = "trying the next candidate"

_FINAL = {
    training_pb2.TRAINING_STATE_SUCCEEDED,
    training_pb2.TRAINING_STATE_FAILED,
    training_pb2.TRAINING_STATE_CANCELLED,
}


class Registry(Protocol):
    address: str
    max_model_bytes: int

    def find(
        self,
        model_hash: str,
        min_episodes: int,
        max_candidates: int,
        caller: User,
        interrupt: Interrupt,
    ) -> list[model_pb2.ModelMetadata]: ...

    def find_near(
        self,
        features: tuple[float, ...],
        features_version: int,
        max_candidates: int,
        min_episodes: int,
        exclude_hash: str,
        caller: User,
        interrupt: Interrupt,
    ) -> list[tuple[model_pb2.ModelMetadata, float]]: ...

    def quarantined(
        self, model_hash: str, min_episodes: int, caller: User, interrupt: Interrupt
    ) -> list[model_pb2.ModelMetadata]: ...

    def get(
        self, ref: model_pb2.ModelRef, caller: User, interrupt: Interrupt
    ) -> model_pb2.ModelMetadata: ...

    def download(
        self, model: model_pb2.ModelMetadata, caller: User, interrupt: Interrupt
    ) -> bytes: ...

    def quarantine(
        self, model: model_pb2.ModelMetadata, why: str, interrupt: Interrupt
    ) -> model_pb2.ModelMetadata: ...

    def record_evaluation(
        self,
        model: model_pb2.ModelMetadata,
        evaluation: model_pb2.ModelEvaluation,
        interrupt: Interrupt,
    ) -> model_pb2.ModelMetadata: ...


class Training(Protocol):
    address: str

    def start(
        self,
        household: household_pb2.Household,
        episodes: int,
        seed: int | None,
        caller: User,
        interrupt: Interrupt,
        parent: ModelKey | None = None,
    ) -> StartedJob: ...

    def watch(
        self, job_id: str, caller: User, interrupt: Interrupt
    ) -> Iterator[training_pb2.TrainingJob]: ...


@dataclass(frozen=True)
class Ready:
    """A model that passed the checks, its loaded policy, and where it came from."""

    metadata: model_pb2.ModelMetadata
    policy: ActorCriticPolicy
    source: pb.ModelSource.ValueType
    job_id: str = ""


class Optimizer:
    """Options A and B over the peers; one instance serves every call."""

    def __init__(
        self,
        registry: Registry,
        training: Training,
        policies: PolicyCache,
        evaluate: Evaluate,
        score: Score,
        *,
        candidates: int = DEFAULT_CANDIDATES,
        warm: Warm = _no_warm_up,
    ) -> None:
        self._registry = registry
        self._training = training
        self._policies = policies
        self._evaluate = evaluate
        self._score = score
        self._candidates = candidates
        self._warm = warm

    def run(self, job: OptimizeJob, interrupt: Interrupt, caller: User = LOCAL) -> Messages:
        """The stream of one call: events, then the result."""
        call = _Call(job, caller, interrupt)
        yield call.event(Stage.OPTIMIZE_STAGE_HASHED, f"household hash {job.household_hash}")
        if job.use_pretrained:
            ranked = yield from self._look_up(call)
            for index, ready in enumerate(ranked):
                then = _NEXT if index < len(ranked) - 1 else call.after_the_last()
                result = yield from self._answer(call, ready, then)
                if result is not None:
                    yield result
                    return
            result = yield from self._ladder(call)
            if result is not None:
                yield result
                return
            yield from self._nothing_usable(call)
        for _ in range(2):  # a stored model that fails when judged is replaced once
            ready = yield from self._train(call, call.job.episodes, call.job.start_model)
            stored = ready.source == pb.MODEL_SOURCE_ALREADY_IN_REGISTRY
            result = yield from self._answer(call, ready, _TRAIN if stored else "")
            if result is not None:
                yield result
                return
            if not stored:
                break
        raise call.unusable("the model trained for this request")

    # ------------------------------------------------------------------ option B

    def _look_up(self, call: _Call) -> Generator[pb.OptimizeResponse, None, list[Ready]]:
        """The usable compatible models, best first ([] when there are none)."""
        job = call.job
        yield call.event(
            Stage.OPTIMIZE_STAGE_LOOKING_UP,
            f"asking the model registry at {self._registry.address} for a model of hash "
            f"{job.household_hash} with at least {job.min_episodes} episodes",
        )
        began = time.perf_counter()
        try:
            found = self._registry.find(
                job.household_hash,
                job.min_episodes,
                self._candidates,
                call.caller,
                call.interrupt,
            )
        except errors.NotFound as missing:
            call.timings.append(("lookup", time.perf_counter() - began))
            call.missing = missing
            return []
        call.timings.append(("lookup", time.perf_counter() - began))
        best = found[0]
        others = f" and {len(found) - 1} other compatible model(s)" if len(found) > 1 else ""
        yield call.event(
            Stage.OPTIMIZE_STAGE_MODEL_FOUND,
            f"found {best.file_name} ({best.ref.episodes} episodes){others}",
            model=best.ref,
        )
        usable: list[Ready] = []
        for index, metadata in enumerate(found):
            then = _NEXT if index < len(found) - 1 else call.after_the_last()
            ready = yield from self._prepare(call, metadata, pb.MODEL_SOURCE_PRETRAINED, "", then)
            if ready is not None:
                usable.append(ready)
        if len(usable) > 1:
            usable = yield from self._rank(call, usable)
        return usable

    def _rank(
        self, call: _Call, usable: list[Ready]
    ) -> Generator[pb.OptimizeResponse, None, list[Ready]]:
        """Score each usable model on the hash's evaluation lives; best first."""
        yield call.event(
            Stage.OPTIMIZE_STAGE_SCORING,
            f"scoring {len(usable)} compatible models on the evaluation lives of hash "
            f"{call.job.household_hash} (the same lives for each) to serve the best",
        )
        began = time.perf_counter()
        scored: list[tuple[float, int, Ready, model_pb2.ModelEvaluation]] = []
        cached = True
        for index, ready in enumerate(usable):
            try:
                outcome = self._score(call.job, ready.metadata, ready.policy, call.interrupt)
            except errors.FailedPrecondition as bad:
                if bad.reason != "INVALID_MODEL":
                    raise
                then = _NEXT if index < len(usable) - 1 or scored else call.after_the_last()
                yield from self._unusable(call, ready.metadata, bad, then)
                continue
            cached = cached and outcome.cached
            evaluation = outcome.evaluation
            scored.append((evaluation.score, index, ready, evaluation))
        scored.sort(key=lambda item: (-item[0], item[1]))
        recorded = [self._record(r.metadata, e, call) for _, _, r, e in scored]
        suffix = " (cached)" if cached else ""
        call.timings.append(("scoring" + suffix, time.perf_counter() - began))
        if scored:
            lives = scored[0][3].held_out_lives
            ranking = "; then ".join(
                f"{r.metadata.file_name} ({score:,.0f} a year)" for score, _, r, _ in scored
            )
            noted = [
                r.metadata.file_name
                for (_, _, r, _), done in zip(scored, recorded, strict=True)
                if done
            ]
            also = f"; recorded as verified for {', '.join(noted)}" if noted else ""
            yield call.event(
                Stage.OPTIMIZE_STAGE_SCORING,
                f"certainty-equivalent consumption on {lives:,} evaluation lives: serving "
                f"{ranking}{also}",
                model=scored[0][2].metadata.ref,
            )
        return [ready for _, _, ready, _ in scored]

    def _record(
        self, model: model_pb2.ModelMetadata, evaluation: model_pb2.ModelEvaluation, call: _Call
    ) -> bool:
        """RecordEvaluation when the model had no verified evaluation; True when recorded."""
        if model.HasField("evaluation"):
            return False
        try:
            self._registry.record_evaluation(model, evaluation, call.interrupt)
        except errors.Cancelled:
            raise
        except errors.GlidepathError as refused:
            log.event(
                "evaluation_not_recorded",
                level="warning",
                model=model.file_name,
                detail=one_line(refused.message),
            )
            return False
        return True

    def _nothing_usable(self, call: _Call) -> Generator[pb.OptimizeResponse, None, None]:
        """Option B found no usable model: say so, then fail or go on to train."""
        job = call.job
        missing = call.missing
        if missing is not None:
            why = missing.message
        else:
            why = f"no usable compatible model ({len(call.failures)} found, none usable)"
        if call.turned_down:
            why += (
                f"; {call.turned_down} near or generic model(s) judged zero-shot were not "
                "good enough"
            )
        if not job.fallback_to_training:
            yield call.event(
                Stage.OPTIMIZE_STAGE_NO_COMPATIBLE_MODEL, f"{why}; fallback_to_training is off"
            )
            if missing is not None:
                self._raise_if_quarantined(call)
                raise errors.NotFound(
                    f"no compatible pre-trained model: {why} "
                    "(fallback_to_training is off; turn it on, or run option A)",
                    reason=missing.reason,
                )
            raise call.unusable("every compatible model", " (fallback_to_training is off)")
        yield call.event(
            Stage.OPTIMIZE_STAGE_NO_COMPATIBLE_MODEL,
            f"{why}; training a new model ({job.episodes} episodes) instead",
        )

    def _raise_if_quarantined(self, call: _Call) -> None:
        """No compatible model because the ones there are quarantined: a server-side
        problem (FAILED_PRECONDITION, MODEL_QUARANTINED), not a missing model."""
        job = call.job
        try:
            held = self._registry.quarantined(
                job.household_hash, job.min_episodes, call.caller, call.interrupt
            )
        except errors.Cancelled:
            raise
        except errors.GlidepathError:
            return  # the registry's NOT_FOUND stands
        if held:
            raise errors.FailedPrecondition(
                one_line(
                    f"no usable pre-trained model: {held[0].file_name} is quarantined "
                    f"({held[0].quarantine_reason})"
                    + (f" and {len(held) - 1} more" if len(held) > 1 else "")
                    + " (fallback_to_training is off; turn it on, or run option A)",
                    400,
                ),
                reason="MODEL_QUARANTINED",
            )

    # ------------------------------------------------------------------ the ladder

    def _ladder(
        self, call: _Call
    ) -> Generator[pb.OptimizeResponse, None, pb.OptimizeResponse | None]:
        """No usable exact model: near matches and the generic model, judged zero-shot on
        this household's evaluation lives (the same for each) and gated; else a
        fine-tuning from the best of them; None when neither served (scratch follows)."""
        self._warm(call.job, call.interrupt)  # the baselines, while the candidates load
        candidates = yield from self._candidates_near(call)
        judged: list[tuple[float, int, Ready, Judgement]] = []
        for index, (ready, label) in enumerate(candidates):
            try:
                judgement = self._evaluate(call.job, ready.metadata, ready.policy, call.interrupt)
            except errors.FailedPrecondition as bad:
                if bad.reason != "INVALID_MODEL":
                    raise
                yield from self._unusable(call, ready.metadata, bad, _NEXT_RUNG)
                continue
            yield call.event(
                Stage.OPTIMIZE_STAGE_ZERO_SHOT,
                f"{label} {ready.metadata.file_name}: {_zero_shot_verdict(judgement)}",
                model=ready.metadata.ref,
            )
            gate = judgement.gate
            judged.append((gate.improvement.value, index, ready, judgement))
        judged.sort(key=lambda item: (-item[0], item[1]))
        passing = [(ready, judgement) for _, _, ready, judgement in judged if _accepted(judgement)]
        if passing:
            ready, judgement = passing[0]
            suffix = " (cached)" if judgement.cached else ""
            call.timings.append(("evaluation" + suffix, judgement.evaluation_seconds))
            call.timings.append(("profile" + suffix, judgement.profile_seconds))
            return pb.OptimizeResponse(result=call.result(ready, judgement))
        call.turned_down = len(judged)
        if not judged or call.job.fine_tune_episodes == 0 or not call.job.fallback_to_training:
            return None  # fallback_to_training off: no training of any kind, fine-tuning too
        parent = judged[0][2].metadata.ref
        yield call.event(
            Stage.OPTIMIZE_STAGE_FINE_TUNING,
            f"no candidate was good enough zero-shot; fine-tuning "
            f"{judged[0][2].metadata.file_name} for {call.job.fine_tune_episodes:,} episodes",
            model=parent,
        )
        start = ModelKey(parent.model_hash, parent.episodes)
        for _ in range(2):  # a stored model that fails when judged is replaced once
            ready = yield from self._train(
                call, call.job.fine_tune_episodes, start, pb.MODEL_SOURCE_FINE_TUNED_NOW
            )
            stored = ready.source == pb.MODEL_SOURCE_ALREADY_IN_REGISTRY
            result = yield from self._answer(call, ready, _TRAIN if stored else "")
            if result is not None:
                return result
            if not stored:
                break
        return None

    def _candidates_near(
        self, call: _Call
    ) -> Generator[pb.OptimizeResponse, None, list[tuple[Ready, str]]]:
        """The near matches (nearest first) and the generic model, loaded and checked."""
        job = call.job
        yield call.event(
            Stage.OPTIMIZE_STAGE_NEAR_MATCHES,
            f"no usable model of hash {job.household_hash}; asking the model registry at "
            f"{self._registry.address} for models of near households and the generic model "
            "of the household's family",
        )
        found: list[tuple[model_pb2.ModelMetadata, pb.ModelSource.ValueType, str]] = []
        for metadata, distance in self._near(call):
            found.append((metadata, pb.MODEL_SOURCE_NEAR_MATCH, f"near match at {distance:.3g}"))
        generic = self._generic(call)
        if generic is not None:
            found.append((generic, pb.MODEL_SOURCE_GENERIC, "generic model"))
        ready: list[tuple[Ready, str]] = []
        for metadata, source, label in found:
            prepared = yield from self._prepare(call, metadata, source, "", _NEXT_RUNG)
            if prepared is not None:
                ready.append((prepared, label))
        return ready

    def _near(self, call: _Call) -> list[tuple[model_pb2.ModelMetadata, float]]:
        """Profile models of near households; none when the registry cannot say."""
        job = call.job
        try:
            near: list[tuple[model_pb2.ModelMetadata, float]] = self._registry.find_near(
                # the training service stores the canonical household's features
                household_features(canonicalize(job.household)),
                FEATURES_VERSION,
                self._candidates,
                job.min_episodes,
                job.household_hash,
                call.caller,
                call.interrupt,
            )
        except errors.Cancelled:
            raise
        except errors.GlidepathError as refused:
            log.event("near_matches_unavailable", level="warning", detail=refused.message)
            return []
        return near

    def _generic(self, call: _Call) -> model_pb2.ModelMetadata | None:
        """The generic model of the default family when the household lies inside it."""
        family = _default_family()
        if not contains(family, call.job.household):
            return None
        try:
            found = self._registry.find(
                family_hash(family), call.job.min_episodes, 1, call.caller, call.interrupt
            )
        except errors.NotFound:
            return None
        return found[0]

    # ------------------------------------------------------------------ training

    def _train(
        self,
        call: _Call,
        episodes: int,
        parent: ModelKey | None,
        trained: pb.ModelSource.ValueType = pb.MODEL_SOURCE_TRAINED_NOW,
    ) -> Generator[pb.OptimizeResponse, None, Ready]:
        """Train ``episodes`` from ``parent`` (or join a job, or use the stored model of
        that name when it is usable); ``trained`` is the source of a model trained now."""
        began = time.perf_counter()
        ref = model_pb2.ModelRef(
            model_hash=call.job.household_hash, episodes=fine_tuned_episodes(parent, episodes)
        )
        try:
            started = self._start(call, episodes, parent)
        except errors.AlreadyExists as stored:
            ready = yield from self._stored(call, stored, ref)
            call.timings.append(("lookup", time.perf_counter() - began))
            if ready is not None:
                return ready
            try:
                started = self._start(call, episodes, parent)
            except errors.AlreadyExists as again:
                raise errors.FailedPrecondition(
                    one_line(
                        f"the stored model of this request is unusable and the training "
                        f"service did not train another ({again.message})",
                        400,
                    ),
                    reason="MODEL_QUARANTINED",
                ) from None
        job_id = started.job.job_id
        self._warm(call.job, call.interrupt)  # the judgement's baselines, while it trains
        stage, source, verb = (
            (Stage.OPTIMIZE_STAGE_TRAINING_JOINED, pb.MODEL_SOURCE_JOINED_RUNNING_JOB, "joined")
            if started.joined
            else (Stage.OPTIMIZE_STAGE_TRAINING_STARTED, trained, "started")
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
        for update in self._training.watch(job_id, call.caller, call.interrupt):
            last = update
            yield call.event(
                Stage.OPTIMIZE_STAGE_TRAINING_PROGRESS,
                _state_name(update.state),
                model=update.model,
                job_id=job_id,
                training=progress(update),
            )
        call.timings.append(("training", time.perf_counter() - began))
        ready = yield from self._prepare(call, _trained_model(last), source, job_id, "")
        if ready is None:
            raise call.unusable("the model trained for this request")
        return ready

    def _start(self, call: _Call, episodes: int, parent: ModelKey | None) -> StartedJob:
        job = call.job
        return self._training.start(
            job.household_message,
            episodes,
            job.training_seed,
            call.caller,
            call.interrupt,
            parent=parent,
        )

    def _stored(
        self, call: _Call, stored: errors.AlreadyExists, ref: model_pb2.ModelRef
    ) -> Generator[pb.OptimizeResponse, None, Ready | None]:
        """The model a training would make is already in the registry: checked, then used
        if usable."""
        yield call.event(
            Stage.OPTIMIZE_STAGE_ALREADY_TRAINED,
            f"{stored.message}; using the stored model once it passes the checks, "
            "nothing is trained",
            model=ref,
        )
        try:
            metadata = self._registry.get(ref, call.caller, call.interrupt)
        except errors.NotFound as hidden:  # another user's private model holds the name
            unnamed = model_pb2.ModelMetadata(
                ref=ref, file_name=model_file_name(ref.model_hash, ref.episodes)
            )
            yield from self._unusable(call, unnamed, hidden, _TRAIN, report=False)
            return None
        return (
            yield from self._prepare(
                call, metadata, pb.MODEL_SOURCE_ALREADY_IN_REGISTRY, "", _TRAIN
            )
        )

    # ------------------------------------------------------------------ checks

    def _prepare(
        self,
        call: _Call,
        metadata: model_pb2.ModelMetadata,
        source: pb.ModelSource.ValueType,
        job_id: str,
        then: str,
    ) -> Generator[pb.OptimizeResponse, None, Ready | None]:
        """The model loaded and checked; None (MODEL_UNUSABLE sent) when it cannot be used."""
        if metadata.quarantine_reason:
            quarantined = errors.FailedPrecondition(
                f"quarantined: {one_line(metadata.quarantine_reason)}",
                reason="MODEL_QUARANTINED",
            )
            yield from self._unusable(call, metadata, quarantined, then, report=False)
            return None
        known = self._policies.rejected(metadata.sha256)
        if known is not None:
            yield from self._unusable(call, metadata, UnusableModel(known), then)
            return None
        limit = self._registry.max_model_bytes
        if metadata.size_bytes > limit:
            oversized = too_large(metadata, metadata.size_bytes, limit)
            yield from self._unusable(call, metadata, oversized, then, report=False)
            return None
        cached = self._policies.get(metadata.sha256)
        if cached is not None:
            yield call.event(
                Stage.OPTIMIZE_STAGE_LOADING,
                f"{metadata.file_name} is already loaded in memory (same SHA-256): no download",
                model=metadata.ref,
            )
            call.timings.append(("load", 0.0))
            return Ready(metadata, cached, source, job_id)
        yield call.event(
            Stage.OPTIMIZE_STAGE_DOWNLOADING,
            f"downloading {metadata.file_name} ({metadata.size_bytes:,} bytes)",
            model=metadata.ref,
        )
        began = time.perf_counter()
        try:
            data = self._registry.download(metadata, call.caller, call.interrupt)
        except (errors.FailedPrecondition, errors.NotFound) as absent:
            if absent.reason not in (
                "TOO_LARGE",
                "MODEL_QUARANTINED",
                "MODEL_NOT_FOUND",
                "NOT_FOUND",
            ):
                raise
            yield from self._unusable(call, metadata, absent, then, report=False)
            return None
        except errors.DataLoss as damaged:
            yield from self._unusable(call, metadata, damaged, then)
            return None
        call.timings.append(("download", time.perf_counter() - began))
        yield call.event(
            Stage.OPTIMIZE_STAGE_LOADING,
            "loading the policy's weights (rebuilt from trusted configuration, nothing "
            "unpickled) and checking them",
            model=metadata.ref,
        )
        began = time.perf_counter()
        try:
            policy = self._policies.load(metadata.sha256, data)
        except UnusableModel as unusable:
            yield from self._unusable(call, metadata, unusable, then)
            return None
        call.timings.append(("load", time.perf_counter() - began))
        return Ready(metadata, policy, source, job_id)

    def _answer(
        self, call: _Call, ready: Ready, then: str
    ) -> Generator[pb.OptimizeResponse, None, pb.OptimizeResponse | None]:
        """Judge the model; the result message, or None when its actions turned non-finite."""
        job = call.job
        yield call.event(
            Stage.OPTIMIZE_STAGE_EVALUATING,
            f"evaluating the policy and every baseline on {job.settings.paths:,} lives "
            f"(seed {job.settings.seed})",
            model=ready.metadata.ref,
        )
        try:
            judgement = self._evaluate(job, ready.metadata, ready.policy, call.interrupt)
        except errors.FailedPrecondition as bad:
            if bad.reason != "INVALID_MODEL":
                raise
            yield from self._unusable(call, ready.metadata, bad, then)
            return None
        suffix = " (cached)" if judgement.cached else ""
        call.timings.append(("evaluation" + suffix, judgement.evaluation_seconds))
        call.timings.append(("profile" + suffix, judgement.profile_seconds))
        return pb.OptimizeResponse(result=call.result(ready, judgement))

    def _unusable(
        self,
        call: _Call,
        metadata: model_pb2.ModelMetadata,
        problem: errors.GlidepathError,
        then: str,
        *,
        report: bool = True,
    ) -> Generator[pb.OptimizeResponse, None, None]:
        """One MODEL_UNUSABLE event; with ``report`` the bytes are quarantined first.

        Quarantine is the registry's to keep: when it cannot be recorded (the registry
        refuses or is down) the call goes on, and this service remembers the bytes."""
        why = one_line(problem.message)
        call.failures.append(problem)
        note = why
        if report:
            self._policies.reject(metadata.sha256, why)
            try:
                self._registry.quarantine(metadata, why, call.interrupt)
            except errors.Cancelled:
                raise
            except errors.GlidepathError as refused:
                note = f"{why}; not quarantined: {one_line(refused.message, 120)}"
            else:
                note = f"{why}; quarantined in the registry"
            log.event(
                "model_unusable",
                level="warning",
                model=metadata.file_name,
                sha256=metadata.sha256,
                detail=note,
            )
        tail = f"; {then}" if then else ""
        yield call.event(
            Stage.OPTIMIZE_STAGE_MODEL_UNUSABLE,
            f"model {metadata.file_name} is unusable ({note}){tail}",
            model=metadata.ref,
        )


@dataclass
class _Call:
    """One call's request, caller, clock, timings, and what went wrong so far."""

    job: OptimizeJob
    caller: User
    interrupt: Interrupt
    began: float = field(default_factory=time.perf_counter)
    timings: list[tuple[str, float]] = field(default_factory=list)
    # The registry's NotFound when it had no compatible model at all.
    missing: errors.NotFound | None = None
    # Why each model tried was unusable, in order.
    failures: list[errors.GlidepathError] = field(default_factory=list)
    # Near matches and generic models judged zero-shot and not accepted.
    turned_down: int = 0

    def after_the_last(self) -> str:
        """What follows when the last compatible model of option B is unusable."""
        return _TRAIN if self.job.fallback_to_training else _NONE_LEFT

    def unusable(self, what: str, note: str = "") -> errors.GlidepathError:
        """The error when no model could be used: the first problem's status and reason."""
        first = self.failures[0] if self.failures else UnusableModel("unusable")
        more = f" (and {len(self.failures) - 1} more)" if len(self.failures) > 1 else ""
        message = one_line(f"{what} is unusable: {first.message}{more}{note}", 400)
        if isinstance(first, errors.DataLoss):
            return errors.DataLoss(message, reason=first.reason)
        return errors.FailedPrecondition(message, reason=first.reason)

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

    def result(self, ready: Ready, judgement: Judgement) -> pb.OptimizeResult:
        return pb.OptimizeResult(
            household_hash=self.job.household_hash,
            model=ready.metadata,
            source=ready.source,
            training_job_id=ready.job_id,
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


def _accepted(judgement: Judgement) -> bool:
    """A model trained for another household (or a family) serves this one when it passes
    the gate, or at least beats every rule of thumb by the gate's margin: what a training
    for this household would typically give (docs/ladder.md), without paying for one."""
    return judgement.gate.passed or judgement.beats_the_rules


def _zero_shot_verdict(judgement: Judgement) -> str:
    gate, rules = judgement.gate, judgement.versus_rules
    text = (
        f"{gate.improvement.value:+,.0f} ± {gate.improvement.standard_error:,.0f} a year "
        f"against {gate.best_baseline} on {gate.lives:,} evaluation lives"
    )
    if rules is not None and rules.best_baseline != gate.best_baseline:
        text += (
            f", {rules.improvement.value:+,.0f} ± {rules.improvement.standard_error:,.0f} "
            f"against the best rule ({rules.best_baseline})"
        )
    return text + (", accepted" if _accepted(judgement) else ", not good enough")


@functools.cache
def _default_family() -> ProfileFamily:
    """The family whose generic model the ladder asks for (read once per process)."""
    return load_family()


def _state_name(state: training_pb2.TrainingState.ValueType) -> str:
    return training_pb2.TrainingState.Name(state).removeprefix("TRAINING_STATE_")


def _trained_model(job: training_pb2.TrainingJob) -> model_pb2.ModelMetadata:
    """The registry model a finished job names; a clear error for any other ending."""
    if job.state == training_pb2.TRAINING_STATE_SUCCEEDED:
        return job.registered_model
    if job.state == training_pb2.TRAINING_STATE_CANCELLED:
        raise errors.Cancelled(f"training job {job.job_id} was cancelled (CancelTraining)")
    if job.state == training_pb2.TRAINING_STATE_FAILED:
        raise errors.FailedPrecondition(
            f"training job {job.job_id} failed: {one_line(job.message, 300)}"
        )
    assert job.state not in _FINAL
    raise errors.Unavailable(
        f"the training service ended the watch of job {job.job_id} while it was "
        f"{_state_name(job.state)}; the job goes on, watch it with WatchTraining"
    )
