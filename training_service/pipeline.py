"""One job's work inside a worker: train, then evaluate on held-out lives.

The trainer and the evaluator belong to the RL library (``glidepath.rl``); this module
only strings them together, relays progress (throttled: a policy update can report many
times a second, watchers need a few), checks for cancellation between the phases, and
turns the result into plain, picklable data for the service process, which uploads it.

Held-out lives: the evaluation that ranks a model is computed on the evaluation lives of
its household hash (``glidepath.rl.evaluation.evaluation_seed_for_hash``): every model of
one household is scored on the same lives (common random numbers), whichever seed trained
it, and those lives come from a spawn key no training stream uses. The seed travels in
the evaluation (``ModelEvaluation.seed``), so anyone can score another model on them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from glidepath import errors
from glidepath.household.model import Household
from glidepath.rl.evaluation_message import EvaluationLike, evaluation_message

PROGRESS_INTERVAL_SECONDS = 0.2


@dataclass(frozen=True)
class TrainingTask:
    """What a worker needs to run one job (picklable)."""

    household: Household
    model_hash: str  # the household's hash: the evaluation lives of this hash score the model
    episodes: int
    seed: int
    algorithm: str
    eval_lives: int
    parent_model_zip: bytes | None = None


@dataclass(frozen=True)
class PhaseChanged:
    """The job moved on to another phase (``JobState`` value, e.g. "EVALUATING")."""

    state: str


@dataclass(frozen=True)
class ProgressReport:
    """A trainer's progress, as sent from the worker to the service."""

    episodes_done: int
    timesteps: int
    mean_episode_reward: float | None
    elapsed_seconds: float


@dataclass(frozen=True)
class TrainingOutcome:
    """A trained and evaluated model, ready to upload."""

    model_zip: bytes
    timesteps: int
    hyperparameters: dict[str, Any]
    library_versions: dict[str, str]
    training_seconds: float
    evaluation: bytes  # a serialized glidepath.common.v1.ModelEvaluation


class ProgressLike(Protocol):
    @property
    def episodes_done(self) -> int: ...
    @property
    def timesteps(self) -> int: ...
    @property
    def mean_episode_reward(self) -> float: ...
    @property
    def elapsed_seconds(self) -> float: ...


class TrainedLike(Protocol):
    @property
    def model_zip(self) -> bytes: ...
    @property
    def timesteps(self) -> int: ...
    @property
    def hyperparameters(self) -> dict[str, Any]: ...
    @property
    def library_versions(self) -> dict[str, str]: ...
    @property
    def training_seconds(self) -> float: ...


Trainer = Callable[[TrainingTask, Callable[[ProgressLike], None], Callable[[], bool]], TrainedLike]
Evaluator = Callable[[Household, bytes, int, int], EvaluationLike]


def rl_train(
    task: TrainingTask, on_progress: Callable[[ProgressLike], None], should_stop: Callable[[], bool]
) -> TrainedLike:
    """The RL library's trainer (``glidepath.rl.training.train``)."""
    from glidepath.rl.training import TrainingSpec, train

    spec = TrainingSpec(
        household=task.household,
        episodes=task.episodes,
        seed=task.seed,
        algorithm=task.algorithm,
        parent_model_zip=task.parent_model_zip,
    )
    result: TrainedLike = train(spec, on_progress, should_stop)
    return result


def rl_evaluate(household: Household, model_zip: bytes, lives: int, seed: int) -> EvaluationLike:
    """The RL library's held-out evaluation (``glidepath.rl.evaluation.evaluate``)."""
    from glidepath.rl.evaluation import evaluate

    result: EvaluationLike = evaluate(household, model_zip, lives=lives, seed=seed)
    return result


def rl_warm_up() -> None:
    """Pay the heavy imports once per worker, and keep torch to one thread per worker."""
    import torch

    torch.set_num_threads(1)
    import stable_baselines3  # noqa: F401

    try:
        import glidepath.rl.evaluation
        import glidepath.rl.training  # noqa: F401
    except ImportError:  # reported by the first job, with the error's own words
        pass


def evaluation_seed(task: TrainingTask) -> int:
    """The seed of the evaluation lives of the task's household hash (imported in the
    worker: the RL library is heavy, the service process does without it)."""
    from glidepath.rl.evaluation import evaluation_seed_for_hash

    return evaluation_seed_for_hash(task.model_hash)


class _Throttle:
    """Forwards at most one progress report per interval, and always the latest on flush."""

    def __init__(self, emit: Callable[[object], None]) -> None:
        self._emit = emit
        self._last_sent = 0.0
        self._pending: ProgressReport | None = None

    def __call__(self, progress: ProgressLike) -> None:
        reward = progress.mean_episode_reward
        self._pending = ProgressReport(
            episodes_done=int(progress.episodes_done),
            timesteps=int(progress.timesteps),
            mean_episode_reward=None if reward is None or reward != reward else float(reward),
            elapsed_seconds=float(progress.elapsed_seconds),
        )
        now = time.monotonic()
        if now - self._last_sent >= PROGRESS_INTERVAL_SECONDS:
            self.flush()
            self._last_sent = now

    def flush(self) -> None:
        if self._pending is not None:
            self._emit(self._pending)
            self._pending = None


@dataclass(frozen=True)
class TrainAndEvaluate:
    """The worker's job runner (picklable: it holds only top-level functions)."""

    trainer: Trainer = rl_train
    evaluator: Evaluator = rl_evaluate

    def __call__(
        self, payload: object, emit: Callable[[object], None], should_stop: Callable[[], bool]
    ) -> TrainingOutcome:
        if not isinstance(payload, TrainingTask):
            raise TypeError(f"expected a TrainingTask, got {type(payload).__name__}")
        task = payload
        throttle = _Throttle(emit)
        trained = self.trainer(task, throttle, should_stop)
        throttle.flush()
        if should_stop():
            raise errors.Cancelled("training cancelled")
        emit(PhaseChanged("EVALUATING"))
        seed = evaluation_seed(task)
        evaluation = self.evaluator(task.household, trained.model_zip, task.eval_lives, seed)
        if should_stop():
            raise errors.Cancelled("training cancelled during the evaluation")
        return TrainingOutcome(
            model_zip=bytes(trained.model_zip),
            timesteps=int(trained.timesteps),
            hyperparameters=dict(trained.hyperparameters),
            library_versions={str(k): str(v) for k, v in trained.library_versions.items()},
            training_seconds=float(trained.training_seconds),
            evaluation=evaluation_message(evaluation, seed).SerializeToString(deterministic=True),
        )
