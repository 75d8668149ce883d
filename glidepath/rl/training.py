"""Train a PPO policy for one household: ``train(spec, on_progress, should_stop)``.

The recipe (hyperparameters and why) lives in :mod:`glidepath.rl.recipe`. This module
plans the rollouts so that exactly ``spec.episodes`` lives are trained, runs SB3's PPO on
the numpy ``LivesVecEnv`` (rule-advantage rewards delivered at the end of each life and
written into the rollout buffer by :class:`DeferredRewards`), relays progress after every
rollout, stops promptly when asked (checked after every vectorised step, i.e. every
simulated year), and returns a real ``model.save()`` zip.

Progress: ``mean_episode_reward`` is the mean, over the lives of the latest rollout, of
the summed rewards: with the default reward, how much better (> 0) or worse (< 0) the
policy's decisions did than the Merton-style rule's on those lives' own markets, in
utility units of the household's consumption scale (about 0.01 = 1 % more consumption
for one year).

Episode accounting: one rollout is one batch of ``n_envs`` lives from start to horizon
(``n_steps`` = the horizon), so lives trained = n_envs x rollouts. ``plan_rollouts``
picks n_envs among the divisors of ``episodes`` near the recipe's lives per update; when
no divisor is close enough (e.g. a prime count) training runs in two phases, the second
with the remainder as its batch, continuing the same weights and optimizer state.

Fine-tuning parents are checked before any training (:func:`check_parent`): weights of
another layout, non-finite weights, or weights whose actions or values come out
non-finite on sample observations would otherwise train for seconds and then fail.
"""

from __future__ import annotations

import io
import platform
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import gymnasium
import numpy as np
import stable_baselines3
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

from glidepath.engine.cashflows import build_schedule
from glidepath.errors import Cancelled, InvalidArgument
from glidepath.household.model import Household
from glidepath.models import MAX_EPISODES, SUPPORTED_ALGORITHMS

from .actions import CONSUMPTION_RANGE, SHARE_RANGE
from .model_io import check_model, load_weights_into
from .recipe import POLICY_LAYOUT_VERSION, RECIPE, Recipe, recipe_for
from .vec_env import BatchVecEnv, LivesVecEnv


def _preload_optimizer() -> None:
    """Pay torch's lazy optimizer imports (about 2 s, once) when this module is imported,
    so a warm training worker does not pay them inside its first job."""
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


_preload_optimizer()


def check_parent(model_zip: bytes) -> None:
    """Raise InvalidArgument (reason INVALID_MODEL) unless ``model_zip`` can be trained on:
    the consumers' own check (:func:`glidepath.rl.model_io.check_model`: trusted layout,
    finite weights, finite actions and values on sample observations). Weights of about
    3.4e38 are finite yet give NaN actions, and would fail only after seconds of training.
    """
    check_model(model_zip)


@dataclass(frozen=True)
class TrainingSpec:
    household: Household  # already canonicalized
    episodes: int  # simulated lives to train on (= the number in the model's file name)
    seed: int
    algorithm: str = "PPO"
    parent_model_zip: bytes | None = None  # fine-tune from these weights (never unpickled)


@dataclass(frozen=True)
class TrainingProgress:
    episodes_done: int  # lives trained so far (whole rollouts)
    timesteps: int  # simulated years so far
    mean_episode_reward: float  # mean return of the last rollout's lives (> 0: beat the rule)
    elapsed_seconds: float


@dataclass(frozen=True)
class TrainedModel:
    model_zip: bytes  # a real stable-baselines3 model.save() zip
    timesteps: int
    hyperparameters: dict[str, object]
    library_versions: dict[str, str]
    training_seconds: float


@dataclass(frozen=True)
class Phase:
    n_envs: int  # lives per rollout (= per policy update)
    rollouts: int


def lives_per_update(episodes: int, recipe: Recipe = RECIPE) -> int:
    """The recipe's batch of lives: at most the target, small enough for min_updates."""
    wanted = episodes // recipe.min_updates
    return max(
        min(wanted, recipe.target_lives_per_update), min(recipe.min_lives_per_update, episodes)
    )


def plan_rollouts(episodes: int, recipe: Recipe = RECIPE) -> list[Phase]:
    """Phases whose lives add up to exactly ``episodes``."""
    if episodes <= 0:
        raise InvalidArgument.field("episodes", "must be >= 1")
    target = lives_per_update(episodes, recipe)
    low = max(1, (target * 2) // 3)
    for n in range(target, low - 1, -1):
        if episodes % n == 0:
            return [Phase(n, episodes // n)]
    full, rest = divmod(episodes, target)
    return [Phase(target, full), Phase(rest, 1)]


def library_versions() -> dict[str, str]:
    return {
        "stable_baselines3": stable_baselines3.__version__,
        "torch": torch.__version__,
        "gymnasium": gymnasium.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """One thread is fastest for these tiny networks (and fair to sibling workers)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class ProgressRelay(BaseCallback):  # type: ignore[misc]
    """Progress after every rollout; stop (return False) as soon as ``should_stop``."""

    def __init__(
        self,
        env: BatchVecEnv,
        lives_before: int,
        started: float,
        on_progress: Callable[[TrainingProgress], None],
        should_stop: Callable[[], bool],
    ) -> None:
        super().__init__()
        self.env = env
        self.lives_before = lives_before
        self.started = started
        self.on_progress = on_progress
        self.should_stop = should_stop
        self.stopped = False

    def _on_step(self) -> bool:
        if self.should_stop():
            self.stopped = True
            return False
        return True

    def _on_rollout_end(self) -> None:
        buffer = self.model.ep_info_buffer
        rewards = [float(e["r"]) for e in list(buffer)[-self.env.num_envs :]] if buffer else []
        self.on_progress(
            TrainingProgress(
                episodes_done=self.lives_before + self.env.lives_done,
                timesteps=int(self.model.num_timesteps),
                mean_episode_reward=float(np.mean(rewards)) if rewards else 0.0,
                elapsed_seconds=time.monotonic() - self.started,
            )
        )


class DeferredRewards(BaseCallback):  # type: ignore[misc]
    """Write the lives' deferred rewards into the rollout buffer, then redo the advantages.

    SB3 calls ``on_rollout_end`` after computing returns and advantages from the (zero)
    rewards the env returned; with ``n_steps`` = the horizon every rollout is exactly the
    lives that just ended, so their true rewards fill the buffer row for row.
    """

    def __init__(self, env: BatchVecEnv) -> None:
        super().__init__()
        self.env = env

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        rewards = self.env.last_episode_rewards
        model = self.model
        assert isinstance(model, PPO)
        buffer = model.rollout_buffer
        if rewards is None or rewards.shape != buffer.rewards.shape:
            raise RuntimeError("a rollout must be exactly one life per environment")
        buffer.rewards[:] = rewards
        n = self.env.num_envs
        buffer.compute_returns_and_advantage(
            last_values=torch.zeros(n), dones=np.ones(n, dtype=np.float32)
        )


def make_ppo(env: BatchVecEnv, seed: int, recipe: Recipe, n_epochs: int) -> PPO:
    rollout = env.num_envs * env.horizon
    return PPO(
        "MlpPolicy",
        env,
        learning_rate=recipe.learning_rate,
        n_steps=env.horizon,
        batch_size=min(recipe.batch_size, rollout),
        n_epochs=n_epochs,
        gamma=recipe.gamma,
        gae_lambda=recipe.gae_lambda,
        clip_range=recipe.clip_range,
        ent_coef=recipe.ent_coef,
        vf_coef=recipe.vf_coef,
        max_grad_norm=recipe.max_grad_norm,
        policy_kwargs={"net_arch": list(recipe.net_arch), "log_std_init": recipe.log_std_init},
        seed=seed,
        device="cpu",
        verbose=0,
    )


def recipe_record(
    recipe: Recipe, horizon: int, episodes: int, seed: int, **batch: object
) -> dict[str, object]:
    """What a saved model says of how it was trained (its ``hyperparameters_json``): the
    recipe, the policy's action and layout, and ``batch``, how its lives were grouped."""
    out = recipe.as_dict()
    out.update(
        algorithm="PPO",
        n_steps=horizon,
        n_epochs=recipe.epochs_for(episodes),
        **batch,
        action="corrections of the Merton-style rule",
        share_range=SHARE_RANGE,
        consumption_range=CONSUMPTION_RANGE,
        policy_layout_version=POLICY_LAYOUT_VERSION,
        seed=seed,
    )
    return out


def hyperparameters(spec: TrainingSpec, phases: list[Phase], recipe: Recipe) -> dict[str, object]:
    horizon = build_schedule(spec.household).horizon
    phases_record = [{"n_envs": p.n_envs, "rollouts": p.rollouts} for p in phases]
    return recipe_record(recipe, horizon, spec.episodes, spec.seed, phases=phases_record)


def train(
    spec: TrainingSpec,
    on_progress: Callable[[TrainingProgress], None],
    should_stop: Callable[[], bool],
    *,
    recipe: Recipe | None = None,
) -> TrainedModel:
    """Train on exactly ``spec.episodes`` lives; raise Cancelled when ``should_stop()``.

    ``recipe`` unset: the recipe of a training from scratch, or of a fine-tuning when the
    spec has a parent (:func:`glidepath.rl.recipe.recipe_for`)."""
    if recipe is None:
        recipe = recipe_for(spec.parent_model_zip is not None)
    if spec.algorithm.upper() not in SUPPORTED_ALGORITHMS:
        raise InvalidArgument.field(
            "algorithm", f"unsupported {spec.algorithm!r}; supported: {SUPPORTED_ALGORITHMS}"
        )
    if not 1 <= spec.episodes <= MAX_EPISODES:
        raise InvalidArgument.field("episodes", f"must be in [1, {MAX_EPISODES}]")
    phases = plan_rollouts(spec.episodes, recipe)
    started = time.monotonic()
    model: PPO | None = None
    lives_before = 0
    rollouts_before = 0  # market episodes already drawn: later phases continue the stream
    with torch_threads(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # SB3's truncated mini-batch notice
        for k, phase in enumerate(phases):
            env = LivesVecEnv(
                spec.household,
                phase.n_envs,
                seed=spec.seed,
                reward=recipe.reward,
                deferred=True,
                first_episode=rollouts_before,
            )
            previous, model = (
                model,
                make_ppo(env, spec.seed + k, recipe, recipe.epochs_for(spec.episodes)),
            )
            if previous is not None:
                model.policy.load_state_dict(previous.policy.state_dict())
                model.policy.optimizer.load_state_dict(previous.policy.optimizer.state_dict())
                model.num_timesteps = previous.num_timesteps
            elif spec.parent_model_zip is not None:
                load_weights_into(model.policy, spec.parent_model_zip)
            relay = ProgressRelay(env, lives_before, started, on_progress, should_stop)
            callbacks = CallbackList([DeferredRewards(env), relay])
            if should_stop():
                raise Cancelled("training cancelled")
            model.learn(
                total_timesteps=phase.n_envs * phase.rollouts * env.horizon,  # added to the count
                callback=callbacks,
                reset_num_timesteps=False,
            )
            if relay.stopped:
                raise Cancelled("training cancelled")
            lives_before += env.lives_done
            rollouts_before += phase.rollouts
        assert model is not None
        buffer = io.BytesIO()
        model.save(buffer)
    elapsed = time.monotonic() - started
    return TrainedModel(
        model_zip=buffer.getvalue(),
        timesteps=int(model.num_timesteps),
        hyperparameters=hyperparameters(spec, phases, recipe),
        library_versions=library_versions(),
        training_seconds=elapsed,
    )
