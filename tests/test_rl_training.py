"""The trainer: exact episode counts, progress, cancellation, fine-tuning, a real zip."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from rl_support import small_household, tiny_model

from glidepath.errors import Cancelled, InvalidArgument
from glidepath.household.canonical import canonicalize
from glidepath.rl.model_io import read_policy_weights
from glidepath.rl.recipe import FINE_TUNE_RECIPE, RECIPE
from glidepath.rl.training import (
    TrainingProgress,
    TrainingSpec,
    lives_per_update,
    plan_rollouts,
    train,
)


@pytest.mark.parametrize("episodes", [1, 7, 64, 97, 500, 997, 1000, 1024, 5000, 20_000, 20_011])
def test_the_plan_trains_exactly_the_requested_number_of_lives(episodes: int) -> None:
    phases = plan_rollouts(episodes)
    assert sum(p.n_envs * p.rollouts for p in phases) == episodes
    assert all(p.n_envs >= 1 and p.rollouts >= 1 for p in phases)
    assert phases[0].n_envs <= RECIPE.target_lives_per_update
    assert len(phases) <= 2


def test_small_budgets_get_enough_updates_and_large_ones_full_batches() -> None:
    assert [p.rollouts for p in plan_rollouts(1000)] == [1000 // plan_rollouts(1000)[0].n_envs]
    assert plan_rollouts(1000)[0].rollouts >= RECIPE.min_updates
    assert lives_per_update(20_000) == RECIPE.target_lives_per_update


def test_a_tiny_real_training_reports_progress_and_returns_an_sb3_zip() -> None:
    reports: list[TrainingProgress] = []
    spec = TrainingSpec(household=canonicalize(small_household()), episodes=40, seed=1)
    model = train(spec, reports.append, lambda: False)
    assert reports, "progress after every rollout"
    assert [r.episodes_done for r in reports] == sorted(r.episodes_done for r in reports)
    assert reports[-1].episodes_done == 40
    assert reports[-1].timesteps == model.timesteps == 40 * 8
    assert all(np.isfinite(r.mean_episode_reward) and r.elapsed_seconds >= 0 for r in reports)
    with zipfile.ZipFile(io.BytesIO(model.model_zip)) as archive:
        assert {"data", "policy.pth", "policy.optimizer.pth"} <= set(archive.namelist())
    assert model.hyperparameters["gae_lambda"] == RECIPE.gae_lambda
    assert model.hyperparameters["phases"] == [{"n_envs": 40, "rollouts": 1}]
    assert model.library_versions["stable_baselines3"]
    assert model.training_seconds > 0


def test_the_same_seed_trains_the_same_weights() -> None:
    spec = TrainingSpec(household=canonicalize(small_household()), episodes=64, seed=3)
    again = train(spec, lambda _: None, lambda: False)
    first = read_policy_weights(tiny_model().model_zip)
    second = read_policy_weights(again.model_zip)
    for name, tensor in first.items():
        torch.testing.assert_close(tensor, second[name])


def test_a_count_without_a_good_divisor_trains_in_two_phases_exactly() -> None:
    reports: list[TrainingProgress] = []
    spec = TrainingSpec(household=canonicalize(small_household()), episodes=67, seed=2)
    model = train(spec, reports.append, lambda: False)
    assert reports[-1].episodes_done == 67
    assert model.timesteps == 67 * 8
    assert len(model.hyperparameters["phases"]) == 2  # type: ignore[arg-type]


def test_should_stop_cancels_promptly() -> None:
    calls = 0

    def stop_after_a_few() -> bool:
        nonlocal calls
        calls += 1
        return calls > 3

    reports: list[TrainingProgress] = []
    spec = TrainingSpec(household=canonicalize(small_household()), episodes=10_000, seed=1)
    with pytest.raises(Cancelled):
        train(spec, reports.append, stop_after_a_few)
    assert not reports  # stopped inside the first rollout, within a few simulated years


def test_fine_tuning_starts_from_the_parent_weights() -> None:
    parent = tiny_model()
    spec = TrainingSpec(
        household=canonicalize(small_household()),
        episodes=8,
        seed=9,
        parent_model_zip=parent.model_zip,
    )
    child = train(spec, lambda _: None, lambda: False)
    before = read_policy_weights(parent.model_zip)
    after = read_policy_weights(child.model_zip)
    # One small update moves the weights a little from the parent's, not from scratch.
    drift = max(float((after[k] - before[k]).abs().max()) for k in before)
    assert 0.0 < drift < 0.1


def test_a_fine_tuning_takes_more_smaller_steps_than_a_training_from_scratch() -> None:
    """The fine-tuning recipe: the same 40 lives as the tiny training above, in 5 updates of
    8 lives at twice the learning rate, where from scratch they are one update of 40."""
    household = canonicalize(small_household())
    parent = tiny_model()
    child = train(
        TrainingSpec(household, 40, 9, parent_model_zip=parent.model_zip),
        lambda _: None,
        lambda: False,
    )
    assert child.hyperparameters["phases"] == [{"n_envs": 8, "rollouts": 5}]
    assert child.hyperparameters["learning_rate"] == FINE_TUNE_RECIPE.learning_rate
    assert FINE_TUNE_RECIPE.learning_rate == 2 * RECIPE.learning_rate
    scratch = train(TrainingSpec(household, 40, 9), lambda _: None, lambda: False)
    assert scratch.hyperparameters["learning_rate"] == RECIPE.learning_rate


def test_a_bad_parent_or_algorithm_is_an_invalid_argument() -> None:
    household = canonicalize(small_household())
    with pytest.raises(InvalidArgument):
        train(
            TrainingSpec(household, 8, 1, parent_model_zip=b"junk"), lambda _: None, lambda: False
        )
    with pytest.raises(InvalidArgument):
        train(TrainingSpec(household, 8, 1, algorithm="DQN"), lambda _: None, lambda: False)
    with pytest.raises(InvalidArgument):
        train(TrainingSpec(household, 0, 1), lambda _: None, lambda: False)
