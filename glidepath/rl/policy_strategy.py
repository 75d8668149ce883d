"""A trained policy as an engine ``Strategy``: deterministic, batched over all paths.

The simulation service evaluates it exactly like a baseline (same ``simulate``, same
scenarios, same metrics). Each year it computes the Merton-style rule's decision for
every path, the observations, the policy's *mean* action (no exploration noise) in one
forward pass for all paths, and decodes the correction around the rule.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray
from stable_baselines3.common.policies import ActorCriticPolicy

from glidepath.engine.cashflows import Schedule
from glidepath.engine.state import Decision, YearState
from glidepath.engine.strategies import MertonRule

from .actions import decode
from .observations import observe

POLICY_STRATEGY_NAME = "rl_policy"


def mean_actions(policy: ActorCriticPolicy, obs: NDArray[np.float32]) -> NDArray[np.float64]:
    """The policy's deterministic (mean) actions for observations (n, d), unclipped."""
    with torch.no_grad():
        tensor = torch.as_tensor(obs, dtype=torch.float32)
        distribution = policy.get_distribution(tensor)
        action = distribution.mode()
    return np.asarray(action.numpy(), dtype=np.float64)


class PolicyStrategy:
    """``policy`` deciding for every path at once, as corrections of the Merton-style rule."""

    def __init__(
        self, policy: ActorCriticPolicy, schedule: Schedule, name: str = POLICY_STRATEGY_NAME
    ) -> None:
        self.policy = policy
        self.rule = MertonRule.for_schedule(schedule)
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def decide(self, state: YearState) -> Decision:
        base = self.rule.decide(state)
        actions = mean_actions(self.policy, observe(state, base))
        return decode(actions, base, state.cash_on_hand)
