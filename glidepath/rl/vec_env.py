"""The vectorised environment: n lives stepped together in numpy, as an SB3 ``VecEnv``.

Why not ``DummyVecEnv`` over n gymnasium envs: it steps them one by one in Python, which
cost 5-10x the whole PPO update here (docs/origins.md). All lives of one household have the
same length, so they start and end together: when the last year is stepped the batch
returns ``dones`` all true, each life's final observation in
``infos[i]["terminal_observation"]`` and its episode summary in ``infos[i]["episode"]``
(what SB3's ``Monitor`` would add, so ``ep_info_buffer`` fills), and the first
observations of the next batch of lives: SB3's auto-reset convention.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from glidepath.engine.state import FlowTiming
from glidepath.household.model import Household

from .actions import ACTION_DIM, ACTION_SPACE
from .lives import Lives, Reward, episode_seed
from .observations import OBSERVATION_SPACE


class BatchVecEnv(VecEnv):
    """What SB3 asks of a VecEnv beyond stepping, for batches of lives that start and end
    together: no attributes, methods, wrappers or images per environment, and seeding
    ignored (the markets come from the constructor's seed only, so that SB3 seeding its
    torch RNG cannot make two trainings or two phases of one training draw the same
    lives)."""

    render_mode = None
    #: Lives whose last year has been stepped (episodes completed).
    lives_done: int
    #: The rewards (horizon, n_envs) of the lives that just ended (deferred mode).
    last_episode_rewards: NDArray[np.float64] | None

    #: The actions of the step under way (set by step_async, taken by step_wait).
    _actions: NDArray[np.float64] | None = None

    @property
    def horizon(self) -> int:
        """Years of one batch of lives (SB3's n_steps)."""
        raise NotImplementedError

    def _start(self) -> NDArray[np.float32]:
        """The first observations of the next batch of lives."""
        raise NotImplementedError

    def reset(self) -> VecEnvObs:
        """The next batch of lives (markets keep following the constructor's seed)."""
        self._reset_seeds()
        self._reset_options()
        return self._start()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.float64).reshape(self.num_envs, ACTION_DIM)

    def _take_actions(self) -> NDArray[np.float64]:
        if self._actions is None:
            raise RuntimeError("step_async first")
        actions, self._actions = self._actions, None
        return actions

    def _batch_ended(
        self, observation: NDArray[np.float32], returns: NDArray[np.float64]
    ) -> list[dict[str, Any]]:
        """SB3's infos for lives that all ended this year (and counts them)."""
        self.lives_done += self.num_envs
        return [
            {
                "terminal_observation": observation[i],
                "TimeLimit.truncated": False,
                "episode": {"r": float(returns[i]), "l": self.horizon, "t": 0.0},
            }
            for i in range(self.num_envs)
        ]

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        return [None for _ in range(self.num_envs)]

    def close(self) -> None:
        return None

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        if attr_name == "render_mode":
            return [None for _ in self._get_indices(indices)]
        raise AttributeError(attr_name)

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        raise AttributeError(attr_name)

    def env_method(
        self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any
    ) -> list[Any]:
        raise AttributeError(method_name)

    def env_is_wrapped(self, wrapper_class: type[Any], indices: Any = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None for _ in range(self.num_envs)]

    def _get_indices(self, indices: Any) -> Iterable[int]:
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, int):
            return [indices]
        return list(indices)

    @property
    def unwrapped(self) -> VecEnv:  # type: ignore[override]
        return self


class LivesVecEnv(BatchVecEnv):
    """``n_envs`` lives of ``household``; episode k of seed s draws markets episode_seed(s, k).

    Episodes count from ``first_episode`` (a later training phase continues the stream).
    """

    def __init__(
        self,
        household: Household,
        n_envs: int,
        *,
        seed: int = 0,
        reward: Reward = Reward.RULE_ADVANTAGE,
        timing: FlowTiming = FlowTiming.MONTHLY,
        deferred: bool = False,
        first_episode: int = 0,
    ) -> None:
        self._lives = Lives(household, n_envs, reward=reward, timing=timing, deferred=deferred)
        self._seed = int(seed)
        self._episode = int(first_episode)
        #: Lives whose last year has been stepped (episodes completed).
        self.lives_done = 0
        #: Deferred mode: the rewards (T, n_envs) of the lives that just ended.
        self.last_episode_rewards: NDArray[np.float64] | None = None
        super().__init__(n_envs, OBSERVATION_SPACE, ACTION_SPACE)

    @property
    def horizon(self) -> int:
        return self._lives.horizon

    def _start(self) -> NDArray[np.float32]:
        obs = self._lives.reset(episode_seed(self._seed, self._episode))
        self._episode += 1
        return obs

    def step_wait(self) -> VecEnvStepReturn:
        result = self._lives.step(self._take_actions())
        n = self.num_envs
        if not result.done:
            infos: list[dict[str, Any]] = [{} for _ in range(n)]
            return result.observation, result.reward, np.zeros(n, dtype=bool), infos
        self.last_episode_rewards = self._lives.deferred_rewards
        infos = self._batch_ended(result.observation, self._lives.returns.copy())
        return self._start(), result.reward, np.ones(n, dtype=bool), infos
