"""Lives of many households in one ``VecEnv``: what a generic model trains on.

A generic model is one policy for every household of a profile family
(:mod:`glidepath.rl.family`). Its training batch must mix households, or each update
would pull the policy towards one household and the next update towards another. This
environment steps ``households_per_batch`` households of ``lives_per_household`` lives
each, every household through its own :class:`glidepath.rl.lives.Lives` (the very
observations, decoding and rule-advantage reward a profile model trains on), and draws
new households from the family for every batch.

Households of one batch have different horizons, while SB3's rollout length is fixed:
every batch lasts the family's longest horizon, and a household whose plan has ended
is padded with the placeholder observation of a finished life and zero rewards (its
actions are ignored). Padded years add no policy gradient beyond the critic's own
estimate, which learns that they are worth 0. The batch ends for every life at once,
as in :class:`glidepath.rl.vec_env.LivesVecEnv`, whose SB3 conventions this follows.

Reproducible: batch k draws its households with ``sample(family, n, seed')`` and its
markets with ``episode_seed(seed, k)``, both from (seed, k) only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn

from glidepath.household.model import Household

from .actions import ACTION_SPACE
from .lives import Lives, Reward, episode_seed
from .observations import OBSERVATION_SPACE, terminal_observation
from .vec_env import BatchVecEnv

#: Draws the households of batch k.
HouseholdSource = Callable[[int], Sequence[Household]]


def finished_observation(n: int) -> NDArray[np.float32]:
    """What a life whose plan is over shows: the placeholder of a finished episode."""
    return terminal_observation(n)


class FamilyVecEnv(BatchVecEnv):
    """Batches of ``lives_per_household`` lives of each household ``source(k)`` returns."""

    render_mode = None

    def __init__(
        self,
        source: HouseholdSource,
        households_per_batch: int,
        lives_per_household: int,
        horizon: int,
        *,
        seed: int = 0,
        first_batch: int = 0,
    ) -> None:
        if households_per_batch < 1 or lives_per_household < 1:
            raise ValueError("need at least one household and one life per household")
        self._source = source
        self._k = households_per_batch
        self._m = lives_per_household
        self._horizon = int(horizon)
        self._seed = int(seed)
        self._batch = int(first_batch)
        self._lives: list[Lives] = []
        self._t = 0
        #: Lives whose last year has been stepped (episodes completed).
        self.lives_done = 0
        #: The rewards (horizon, n_envs) of the lives that just ended, padded with zeros.
        self.last_episode_rewards: NDArray[np.float64] | None = None
        super().__init__(
            households_per_batch * lives_per_household, OBSERVATION_SPACE, ACTION_SPACE
        )

    @property
    def horizon(self) -> int:
        return self._horizon

    def _start(self) -> NDArray[np.float32]:
        households = self._source(self._batch)
        if len(households) != self._k:
            raise ValueError(f"the source gave {len(households)} households, not {self._k}")
        too_long = [h.horizon_years for h in households if h.horizon_years > self._horizon]
        if too_long:
            raise ValueError(f"a household's plan ({too_long[0]} years) outlasts the batch")
        market_seed = episode_seed(self._seed, self._batch)
        self._batch += 1
        self._lives = [
            Lives(h, self._m, reward=Reward.RULE_ADVANTAGE, deferred=True) for h in households
        ]
        self._t = 0
        return np.concatenate([lives.reset(market_seed) for lives in self._lives])

    def step_wait(self) -> VecEnvStepReturn:
        actions = self._take_actions()
        observations = []
        for i, lives in enumerate(self._lives):
            if self._t >= lives.horizon:
                observations.append(finished_observation(self._m))
                continue
            result = lives.step(actions[i * self._m : (i + 1) * self._m])
            observations.append(result.observation)
        self._t += 1
        n = self.num_envs
        zeros = np.zeros(n, dtype=np.float32)
        infos: list[dict[str, Any]] = [{} for _ in range(n)]
        obs = np.concatenate(observations)
        if self._t < self._horizon:
            return obs, zeros, np.zeros(n, dtype=bool), infos
        rewards = np.zeros((self._horizon, n))
        for i, lives in enumerate(self._lives):
            done = lives.deferred_rewards
            assert done is not None, "every household's plan ends within the batch"
            rewards[: lives.horizon, i * self._m : (i + 1) * self._m] = done
        self.last_episode_rewards = rewards
        infos = self._batch_ended(obs, rewards.sum(axis=0))
        return self._start(), zeros, np.ones(n, dtype=bool), infos
