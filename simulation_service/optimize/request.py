"""Optimize's request as a validated job, every bad field reported at once.

The household and the evaluation settings follow Compare's rules (``convert``); the rest
are Optimize's own defaults, written here once: 1000 episodes, 500 minimum episodes,
fallback to training on. Option B's fallback trains ``episodes``; when the request leaves
episodes unset and asks for more than 1000 minimum episodes, the fallback trains that
minimum, so that the model it produces is one option B would accept next time.
"""

from __future__ import annotations

from dataclasses import dataclass

from glidepath.common.v1 import household_pb2
from glidepath.engine.run import SimulationSettings
from glidepath.errors import FieldViolation, InvalidArgument
from glidepath.household.canonical import household_hash
from glidepath.household.model import Household
from glidepath.household.validation import listed
from glidepath.models import (
    DEFAULT_EPISODES,
    DEFAULT_MIN_EPISODES,
    MAX_EPISODES,
    ModelKey,
    fine_tuned_episodes,
    is_model_hash,
)
from glidepath.simulation.v1 import simulation_pb2 as pb
from glidepath.text import clip_repr
from simulation_service import convert
from simulation_service.config import SimulationServiceSettings

MAX_TRAINING_SEED = 2**32 - 1
# The ladder's fine-tuning when the request leaves fine_tune_episodes unset (docs/ladder.md).
DEFAULT_FINE_TUNE_EPISODES = 200


@dataclass(frozen=True)
class OptimizeJob:
    """One Optimize request, ready to run."""

    household_message: household_pb2.Household  # forwarded to the training service as sent
    household: Household
    household_hash: str
    use_pretrained: bool
    episodes: int
    min_episodes: int
    fallback_to_training: bool
    settings: SimulationSettings
    training_seed: int | None
    # Option A's start model (a fine-tuning), or None to train from scratch.
    start_model: ModelKey | None = None
    # Option B's ladder: episodes of the fine-tuning from the best candidate; 0 skips it.
    fine_tune_episodes: int = DEFAULT_FINE_TUNE_EPISODES

    @property
    def model_episodes(self) -> int:
        """The ``{episodes}`` of the model option A asks for: the start model's included."""
        return fine_tuned_episodes(self.start_model, self.episodes)


def optimize_job(request: pb.OptimizeRequest, limits: SimulationServiceSettings) -> OptimizeJob:
    """The request as a job; InvalidArgument lists every bad field."""
    problems: list[FieldViolation] = []
    try:
        household = convert.household(request.household, request.HasField("household"))
    except InvalidArgument as error:
        problems.extend(error.violations)
        household = None
    min_episodes = request.min_episodes if request.HasField("min_episodes") else None
    if min_episodes is not None and min_episodes < 1:
        problems.append(FieldViolation("min_episodes", "must be >= 1 (unset means 500)"))
    minimum = min_episodes or DEFAULT_MIN_EPISODES
    episodes = request.episodes or max(DEFAULT_EPISODES, minimum if request.use_pretrained else 0)
    problems.extend(_episode_problems(request, episodes, minimum))
    seed = request.training_seed if request.HasField("training_seed") else None
    if seed is not None and seed > MAX_TRAINING_SEED:
        problems.append(FieldViolation("training_seed", f"at most {MAX_TRAINING_SEED}"))
    settings = convert._settings(request.settings, limits, problems)
    start_model = _start_model(request, problems)
    fine_tune = _fine_tune_episodes(request, problems)
    if problems:
        raise InvalidArgument(listed(problems))
    assert household is not None and settings is not None
    return OptimizeJob(
        household_message=request.household,
        household=household,
        household_hash=household_hash(household),
        use_pretrained=request.use_pretrained,
        episodes=episodes,
        min_episodes=minimum,
        fallback_to_training=(
            request.fallback_to_training if request.HasField("fallback_to_training") else True
        ),
        settings=settings,
        training_seed=seed,
        start_model=start_model,
        fine_tune_episodes=fine_tune,
    )


def _fine_tune_episodes(request: pb.OptimizeRequest, problems: list[FieldViolation]) -> int:
    """Option B's fine-tuning rung: unset means 200, 0 skips it; option A names a
    start_model instead, so the field there would change nothing and is refused."""
    if not request.HasField("fine_tune_episodes"):
        return DEFAULT_FINE_TUNE_EPISODES
    episodes = request.fine_tune_episodes
    if not request.use_pretrained:
        problems.append(
            FieldViolation(
                "fine_tune_episodes",
                "is option B's ladder only; set use_pretrained, or fine-tune with start_model",
            )
        )
    if episodes > MAX_EPISODES:
        problems.append(
            FieldViolation("fine_tune_episodes", f"at most {MAX_EPISODES:,}, got {episodes:,}")
        )
    return episodes


def _start_model(request: pb.OptimizeRequest, problems: list[FieldViolation]) -> ModelKey | None:
    if not request.HasField("start_model"):
        return None
    ref = request.start_model
    if request.use_pretrained:
        problems.append(
            FieldViolation("start_model", "fine-tunes in option A only; unset use_pretrained")
        )
    if not is_model_hash(ref.model_hash):
        problems.append(
            FieldViolation(
                "start_model.model_hash",
                f"must be 16 lowercase hex characters, got {clip_repr(ref.model_hash, 40)}",
            )
        )
    if ref.episodes < 1:
        problems.append(FieldViolation("start_model.episodes", "must be >= 1"))
    return ModelKey(ref.model_hash, ref.episodes)


def _episode_problems(
    request: pb.OptimizeRequest, episodes: int, minimum: int
) -> list[FieldViolation]:
    if episodes > MAX_EPISODES:
        return [FieldViolation("episodes", f"at most {MAX_EPISODES:,}, got {episodes:,}")]
    falls_back = request.use_pretrained and (
        not request.HasField("fallback_to_training") or request.fallback_to_training
    )
    if falls_back and episodes < minimum:
        return [
            FieldViolation(
                "episodes",
                f"the fallback training would give a model of {episodes} episodes, under "
                f"min_episodes ({minimum}), which option B would never use",
            )
        ]
    return []
