"""Observations: what the agent sees of a year's state, normalised to fixed bounds.

No running normalisation (``VecNormalize`` pickles its statistics, and they would drift
between households): every feature is a ratio or a log-ratio to the household's own
consumption scale s (``Schedule.consumption_scale``), so scaling every amount of money by
k leaves the observation unchanged, and each is clipped to a fixed range:

==  =======================================  ===========
 i  feature                                  range
==  =======================================  ===========
 0  t / T (progress through the plan)        [0, 1]
 1  years to retirement / T                  [0, 1]
 2  log(X / s) / 4, X = cash on hand         [-2, 2]
 3  log((X + H) / s) / 4, H = human capital  [-2, 2]
 4  H / (X + H): how much wealth is future   [-2, 2]
 5  c_base / X: the rule's consumption rate  [0, 2]
 6  s_base: the rule's stock share           [0, 1]
 7  G / (X + H): the capital goal's weight   [0, 2]
 8  (income - charges) / s / 4               [-2, 2]
==  =======================================  ===========

The rule's own decisions (5, 6) are features because the action is a correction of
them: the agent learns "how far off the rule is here", which is easiest when it sees
what the rule does. Money floors (1 % of s) keep logs finite when wealth runs out.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from glidepath.engine.state import Decision, YearState

FloatArray = NDArray[np.float64]

OBS_LOW = np.array([0.0, 0.0, -2.0, -2.0, -2.0, 0.0, 0.0, 0.0, -2.0], dtype=np.float32)
OBS_HIGH = np.array([1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 1.0, 2.0, 2.0], dtype=np.float32)
OBS_DIM = int(OBS_LOW.shape[0])
OBSERVATION_SPACE = spaces.Box(low=OBS_LOW, high=OBS_HIGH, dtype=np.float32)
_FLOOR = 0.01


def observe(state: YearState, base: Decision) -> NDArray[np.float32]:
    """Observations of shape (n, OBS_DIM) for ``state`` and the rule's decision ``base``."""
    schedule = state.schedule
    s = schedule.consumption_scale
    horizon = float(schedule.horizon)
    n = state.n_paths
    t = min(state.t, schedule.horizon)
    cash = state.cash_on_hand
    total = cash + state.human_capital
    cash_pos = np.maximum(cash, _FLOOR * s)
    total_pos = np.maximum(total, _FLOOR * s)
    obs = np.empty((n, OBS_DIM), dtype=np.float64)
    obs[:, 0] = t / horizon
    obs[:, 1] = max(schedule.retirement_year - t, 0) / horizon
    obs[:, 2] = np.log(cash_pos / s) / 4.0
    obs[:, 3] = np.log(total_pos / s) / 4.0
    obs[:, 4] = state.human_capital / total_pos
    obs[:, 5] = base.consumption / cash_pos
    obs[:, 6] = base.stock_share
    obs[:, 7] = schedule.capital_goal / total_pos
    obs[:, 8] = (state.income - state.charges) / s / 4.0
    np.clip(obs, OBS_LOW, OBS_HIGH, out=obs)
    return obs.astype(np.float32)


def terminal_observation(schedule_horizon: int, n: int) -> NDArray[np.float32]:
    """A placeholder observation after the last year (its value is never bootstrapped:
    the episode ends by termination, so SB3 does not use it)."""
    obs = np.zeros((n, OBS_DIM), dtype=np.float32)
    obs[:, 0] = 1.0
    del schedule_horizon
    return obs
