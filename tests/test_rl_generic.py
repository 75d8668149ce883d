"""The generic model's training: FamilyVecEnv's batches and train_generic's contract."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest
import torch
from family_support import short_family

from glidepath.errors import Cancelled, InvalidArgument
from glidepath.household.canonical import household_hash
from glidepath.household.model import Household
from glidepath.rl.actions import ACTION_DIM
from glidepath.rl.family_vec_env import FamilyVecEnv, finished_observation
from glidepath.rl.generic import GenericSpec, batch_households, family_horizon, train_generic
from glidepath.rl.model_io import read_policy_weights
from glidepath.rl.observations import OBS_DIM
from glidepath.rl.training import TrainingProgress

K, M = 3, 4


def _spec(**changes: object) -> GenericSpec:
    base = GenericSpec(
        short_family(), episodes=2 * K * M, seed=5, households_per_batch=K, lives_per_household=M
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _distinct_horizons() -> list[Household]:
    """K households of the short family whose plans have at least two lengths."""
    family = short_family()
    for batch in range(50):
        households = batch_households(family, K, 11, batch)
        if len({h.horizon_years for h in households}) >= 2:
            return households
    raise AssertionError("no batch of the short family mixes horizons")


def _env(households: Sequence[Household], horizon: int) -> FamilyVecEnv:
    return FamilyVecEnv(lambda _: households, K, M, horizon, seed=3)


def _run_batch(env: FamilyVecEnv, seed: int) -> list[np.ndarray]:
    """Step one whole batch with seeded random actions; the observations of every year."""
    rng = np.random.default_rng(seed)
    seen = [np.asarray(env.reset())]
    for _ in range(env.horizon):
        env.step_async(rng.uniform(-1, 1, size=(env.num_envs, ACTION_DIM)))
        obs, rewards, dones, infos = env.step_wait()
        seen.append(np.asarray(obs))
        last = (dones, infos, rewards)
    dones, infos, rewards = last
    assert dones.all() and (rewards == 0).all()
    assert all("terminal_observation" in i and "episode" in i for i in infos)
    return seen


def test_a_batch_has_k_households_of_m_lives_and_ends_at_the_family_horizon() -> None:
    households = _distinct_horizons()
    horizon = family_horizon(short_family())
    env = _env(households, horizon)
    obs = np.asarray(env.reset())
    assert obs.shape == (K * M, OBS_DIM) and obs.dtype == np.float32
    zero = np.zeros((K * M, ACTION_DIM))
    for year in range(horizon):
        env.step_async(zero)
        step_obs, rewards, dones, _ = env.step_wait()
        assert np.asarray(step_obs).shape == (K * M, OBS_DIM)
        assert rewards.shape == dones.shape == (K * M,)
        assert dones.all() == (year == horizon - 1)
    assert env.lives_done == K * M
    assert env.last_episode_rewards is not None
    assert env.last_episode_rewards.shape == (horizon, K * M)


def test_a_household_whose_plan_ended_shows_the_finished_placeholder_and_earns_zero() -> None:
    households = _distinct_horizons()
    horizon = family_horizon(short_family())
    assert max(h.horizon_years for h in households) <= horizon
    env = _env(households, horizon)
    seen = _run_batch(env, seed=1)
    rewards = env.last_episode_rewards
    assert rewards is not None
    for i, h in enumerate(households):
        block = slice(i * M, (i + 1) * M)
        assert (rewards[h.horizon_years :, block] == 0).all()
        assert (rewards[: h.horizon_years, block] != 0).any()  # the plan's years do count
        # After year t (t >= the plan's length) the placeholder shows, until the batch's
        # last year returns the next batch's first observations.
        for t in range(h.horizon_years, horizon - 1):
            np.testing.assert_array_equal(seen[t + 1][block], finished_observation(M))
        assert not np.array_equal(seen[h.horizon_years - 1][block], finished_observation(M))


def test_a_household_longer_than_the_batch_is_refused() -> None:
    households = _distinct_horizons()
    env = _env(households, min(h.horizon_years for h in households))
    with pytest.raises(ValueError, match="outlasts the batch"):
        env.reset()


def test_batch_households_depend_on_the_seed_and_the_batch_only() -> None:
    family = short_family()
    first = [household_hash(h) for h in batch_households(family, K, 7, 0)]
    assert first == [household_hash(h) for h in batch_households(family, K, 7, 0)]
    assert first != [household_hash(h) for h in batch_households(family, K, 8, 0)]
    assert first != [household_hash(h) for h in batch_households(family, K, 7, 1)]


def test_the_environment_draws_new_households_for_every_batch() -> None:
    family = short_family()
    asked: list[int] = []

    def source(batch: int) -> list[Household]:
        asked.append(batch)
        return batch_households(family, K, 7, batch)

    env = FamilyVecEnv(source, K, M, family_horizon(family), seed=3)
    _run_batch(env, seed=2)
    assert asked == [0, 1]  # the batch's end starts the next one


def _weights(model_zip: bytes) -> dict[str, torch.Tensor]:
    return read_policy_weights(model_zip)


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_training_is_reproducible_and_the_seed_matters() -> None:
    progress: list[TrainingProgress] = []
    first = train_generic(_spec(), progress.append, lambda: False)
    again = train_generic(_spec(), lambda _: None, lambda: False)
    other = train_generic(_spec(seed=6), lambda _: None, lambda: False)
    assert _same(_weights(first.model_zip), _weights(again.model_zip))
    assert not _same(_weights(first.model_zip), _weights(other.model_zip))
    horizon = family_horizon(short_family())
    assert first.timesteps == 2 * K * M * horizon
    assert [p.episodes_done for p in progress] == [K * M, 2 * K * M]
    assert first.hyperparameters["households_per_batch"] == K
    assert first.hyperparameters["lives_per_household"] == M


def test_the_family_changes_the_weights() -> None:
    data = short_family()
    wider = replace(data, risk_aversion=replace(data.risk_aversion, high=9.0))
    a = train_generic(_spec(), lambda _: None, lambda: False)
    b = train_generic(_spec(family=wider), lambda _: None, lambda: False)
    assert not _same(_weights(a.model_zip), _weights(b.model_zip))


def test_should_stop_cancels_before_and_during_training() -> None:
    with pytest.raises(Cancelled):
        train_generic(_spec(), lambda _: None, lambda: True)
    calls = 0

    def after_a_few_years() -> bool:
        nonlocal calls
        calls += 1
        return calls > 5

    with pytest.raises(Cancelled):
        train_generic(_spec(episodes=20 * K * M), lambda _: None, after_a_few_years)
    assert calls < 20 * family_horizon(short_family())  # stopped long before the end


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"episodes": 0}, "episodes"),
        ({"episodes": K * M + 1}, "episodes"),
        ({"episodes": 2_000_000}, "episodes"),
        ({"households_per_batch": 0}, "households_per_batch"),
        ({"lives_per_household": 0}, "lives_per_household"),
    ],
)
def test_a_bad_spec_is_refused_naming_its_field(changes: dict[str, int], field: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        train_generic(_spec(**changes), lambda _: None, lambda: False)
    assert [v.field for v in raised.value.violations] == [field]
