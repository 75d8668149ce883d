"""The single-life gymnasium environment (for ``check_env`` and for reading the design).

One step is one year, one episode one simulated life from the household's current age
to its horizon, with fresh stochastic returns every year. Observations, actions and the
reward are those of :mod:`glidepath.rl.observations`, :mod:`glidepath.rl.actions` and
:mod:`glidepath.rl.lives` (by default the reward is the paired value of the year's
decision against the Merton-style rule's, both continued by the rule on the life's own
future market). Training uses the vectorised twin
:class:`glidepath.rl.vec_env.LivesVecEnv`, which steps many lives in numpy; with the same
seed, life ``path_index`` of the twin follows exactly this env's trajectory.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

from glidepath.engine.state import FlowTiming
from glidepath.household.model import Household

from .actions import ACTION_SPACE
from .lives import Lives, Reward, episode_seed
from .observations import OBSERVATION_SPACE


class RetirementEnv(gym.Env[NDArray[np.float32], NDArray[np.float32]]):
    """One life of ``household``; ``path_index`` picks which market path of each episode."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012

    def __init__(
        self,
        household: Household,
        *,
        path_index: int = 0,
        reward: Reward = Reward.RULE_ADVANTAGE,
        timing: FlowTiming = FlowTiming.MONTHLY,
    ) -> None:
        super().__init__()
        self.observation_space = OBSERVATION_SPACE
        self.action_space = ACTION_SPACE
        self._lives = Lives(household, 1, first_path=path_index, reward=reward, timing=timing)
        self._seed = 0
        self._episode = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        """A new life. ``seed`` restarts the sequence of episodes (episode 0 of that seed)."""
        super().reset(seed=seed)
        if seed is not None:
            self._seed, self._episode = int(seed), 0
        obs = self._lives.reset(episode_seed(self._seed, self._episode))
        self._episode += 1
        return obs[0], {}

    def step(
        self, action: NDArray[np.float32]
    ) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        result = self._lives.step(np.asarray(action, dtype=np.float64).reshape(1, -1))
        info: dict[str, Any] = {
            "consumption": float(result.consumption[0]),
            "stock_share": float(result.stock_share[0]),
        }
        return result.observation[0], float(result.reward[0]), result.done, False, info
