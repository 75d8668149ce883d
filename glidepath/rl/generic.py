"""Train one policy over a profile family: ``train_generic(spec, on_progress, should_stop)``.

The recipe is the profile models' (:mod:`glidepath.rl.recipe`): the same network, the
same rule-advantage reward, the same PPO settings, so a generic model's weights load
wherever a profile model's do and can be the start of a fine-tuning for one household.
What changes is the batch: each policy update sees ``households_per_batch`` households
freshly drawn from the family, ``lives_per_household`` lives each
(:class:`glidepath.rl.family_vec_env.FamilyVecEnv`), so the policy is pulled towards
what is good across the family rather than for one household.

The observations are scale-free (every amount of money is a ratio to the household's
consumption scale, :mod:`glidepath.rl.observations`), so one policy can read any
household; the rule's own decisions are observed, and through them the risk aversion
and the market's moments reach the policy (the rule's stock share is the Merton share
of those). Whether that is enough for a generic model to match a profile model is what
``benchmarks/bench_generic.py`` measures.
"""

from __future__ import annotations

import io
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from stable_baselines3.common.callbacks import CallbackList

from glidepath.errors import Cancelled, InvalidArgument
from glidepath.household.model import MAX_LIFE_AGE, Household
from glidepath.models import MAX_EPISODES

from .family import ProfileFamily, family_hash, sample
from .family_vec_env import FamilyVecEnv
from .recipe import RECIPE, Recipe
from .training import (
    DeferredRewards,
    ProgressRelay,
    TrainedModel,
    TrainingProgress,
    library_versions,
    make_ppo,
    recipe_record,
    torch_threads,
)

#: Spawn key of the households drawn for training batches ("FAML").
FAMILY_SPAWN_KEY = 0x46414D4C


@dataclass(frozen=True)
class GenericSpec:
    family: ProfileFamily
    episodes: int  # lives trained, a multiple of the batch (= the number in the file name)
    seed: int
    # Households per policy update, and lives of each: 16 x 16 = the recipe's 256 lives.
    households_per_batch: int = 16
    lives_per_household: int = 16

    @property
    def batch(self) -> int:
        return self.households_per_batch * self.lives_per_household


def family_horizon(family: ProfileFamily) -> int:
    """The longest plan any household of ``family`` can have (years): the batch length."""
    youngest = family.adults.current_age.low
    if family.couple_probability > 0:
        youngest += min(0, family.adults.partner_age_gap.low)
    youngest = max(youngest, 0)
    longest = 0
    if "mortality" in family.lifetimes:
        longest = MAX_LIFE_AGE + 1 - youngest
    if "fixed_horizon" in family.lifetimes:
        longest = max(longest, family.adults.life_expectancy.high - youngest)
    return longest


def batch_sample_seed(seed: int, batch: int) -> int:
    """The seed ``sample`` gets for training batch ``batch`` of a training seeded ``seed``."""
    sequence = np.random.SeedSequence(seed, spawn_key=(FAMILY_SPAWN_KEY, batch))
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def batch_households(family: ProfileFamily, n: int, seed: int, batch: int) -> list[Household]:
    """The households of training batch ``batch``: from (seed, batch) only."""
    return sample(family, n, batch_sample_seed(seed, batch))


def _check(spec: GenericSpec) -> int:
    """The number of policy updates; InvalidArgument for a budget that does not fit."""
    for name, value in (
        ("households_per_batch", spec.households_per_batch),
        ("lives_per_household", spec.lives_per_household),
    ):
        if value < 1:
            raise InvalidArgument.field(name, f"must be >= 1, got {value}")
    if not 1 <= spec.episodes <= MAX_EPISODES:
        raise InvalidArgument.field("episodes", f"must be in [1, {MAX_EPISODES}]")
    if spec.episodes % spec.batch:
        raise InvalidArgument.field(
            "episodes",
            f"must be a multiple of the batch ({spec.households_per_batch} households x "
            f"{spec.lives_per_household} lives = {spec.batch})",
        )
    return spec.episodes // spec.batch


def hyperparameters(spec: GenericSpec, horizon: int, recipe: Recipe) -> dict[str, object]:
    return recipe_record(
        recipe,
        horizon,
        spec.episodes,
        spec.seed,
        households_per_batch=spec.households_per_batch,
        lives_per_household=spec.lives_per_household,
        family=spec.family.name,
        family_hash=family_hash(spec.family),
    )


def train_generic(
    spec: GenericSpec,
    on_progress: Callable[[TrainingProgress], None],
    should_stop: Callable[[], bool],
    *,
    recipe: Recipe = RECIPE,
) -> TrainedModel:
    """Train on ``spec.episodes`` lives across the family; raise Cancelled when asked."""
    updates = _check(spec)
    horizon = family_horizon(spec.family)

    def source(batch: int) -> Sequence[Household]:
        return batch_households(spec.family, spec.households_per_batch, spec.seed, batch)

    started = time.monotonic()
    with torch_threads(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # SB3's truncated mini-batch notice
        env = FamilyVecEnv(
            source, spec.households_per_batch, spec.lives_per_household, horizon, seed=spec.seed
        )
        model = make_ppo(env, spec.seed, recipe, recipe.epochs_for(spec.episodes))
        relay = ProgressRelay(env, 0, started, on_progress, should_stop)
        if should_stop():
            raise Cancelled("training cancelled")
        model.learn(
            total_timesteps=updates * spec.batch * horizon,
            callback=CallbackList([DeferredRewards(env), relay]),
        )
        if relay.stopped:
            raise Cancelled("training cancelled")
        buffer = io.BytesIO()
        model.save(buffer)
    return TrainedModel(
        model_zip=buffer.getvalue(),
        timesteps=int(model.num_timesteps),
        hyperparameters=hyperparameters(spec, horizon, recipe),
        library_versions=library_versions(),
        training_seconds=time.monotonic() - started,
    )
