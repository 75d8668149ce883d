"""A batch of simulated lives for the agent, each with a *shadow* life run by the rule.

This is the environment's core, shared by the single gymnasium env and the vectorised
``VecEnv``: it only strings engine calls together (``initial_state``, the market's
``Scenarios``, ``step``, the Merton-style rule, the ``Objective``), so the agent lives in
exactly the world the simulation service evaluates strategies in.

The shadow life (variance reduction). Next to every agent life, the Merton-style rule
lives the same market scenario from the same start. The reward is the *difference* of
the objective's terms, in the household's consumption-scale units:

    r_t = u(c_t / s) - u(c_t^rule / s)      (+ the goal terms' difference at the end)

The shadow's utility never depends on the agent's actions, so it is a baseline: the
expected return changes by a constant and the policy gradient stays unbiased. But the
market luck that dominates a life's utility (a good or a bad decade) hits both lives and
cancels, which is what lets a small budget learn (rl-findings: paired differences are
40-100x less noisy than levels). A return > 0 means "better than the rule on this life".
Set ``shadow=False`` to get the plain objective u(c_t / s) as the reward.

Lives in one batch start and end together (the horizon is the household's), so a batch
resets as a whole. Episode k of a batch seeded ``seed`` draws its markets from the
engine's ``Scenarios(episode_seed(seed, k), start=first_path, n)``: path i's market
depends only on (seed, k, i), so one life of a batch can be replayed alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from glidepath.engine.cashflows import build_schedule
from glidepath.engine.market import Scenarios
from glidepath.engine.objective import Objective
from glidepath.engine.state import Decision, FlowTiming, YearState
from glidepath.engine.step import initial_state, step
from glidepath.engine.strategies import MertonRule
from glidepath.household.model import Household

from .actions import decode
from .observations import OBS_DIM, observe

FloatArray = NDArray[np.float64]

#: Spawn key of the training's market streams ("TRAN"): disjoint from the evaluation's.
TRAINING_SPAWN_KEY = 0x5452414E


def episode_seed(seed: int, episode: int) -> int:
    """The market seed of episode ``episode`` of a batch seeded ``seed``."""
    sequence = np.random.SeedSequence(seed, spawn_key=(TRAINING_SPAWN_KEY, episode))
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


@dataclass
class StepResult:
    observation: NDArray[np.float32]  # next observation (the terminal one when done)
    reward: NDArray[np.float32]
    done: bool
    consumption: FloatArray
    stock_share: FloatArray


class Lives:
    """``n`` agent lives (paths ``first_path`` .. ``first_path + n - 1``) and their shadows."""

    def __init__(
        self,
        household: Household,
        n: int,
        *,
        first_path: int = 0,
        shadow: bool = True,
        timing: FlowTiming = FlowTiming.MONTHLY,
    ) -> None:
        if n <= 0:
            raise ValueError("need at least one life")
        self.schedule = build_schedule(household)
        self.rule = MertonRule.for_schedule(self.schedule)
        self.objective = Objective.for_schedule(self.schedule)
        self.n = n
        self.first_path = first_path
        self.shadow = shadow
        self.timing = timing
        self.horizon = self.schedule.horizon
        self._state: YearState | None = None
        self._shadow_state: YearState | None = None
        self._scenarios: Scenarios | None = None
        self._base: Decision | None = None
        self.returns = np.zeros(n)  # reward summed over the current episode, per life

    def reset(self, market_seed: int) -> NDArray[np.float32]:
        """Start every life at t = 0 on the markets of ``market_seed``; first observations."""
        self._scenarios = Scenarios(self.schedule.market, market_seed, self.first_path, self.n)
        self._state = initial_state(self.schedule, self.n, timing=self.timing)
        self._shadow_state = self._state if self.shadow else None
        self.returns = np.zeros(self.n)
        return self._observe()

    def _observe(self) -> NDArray[np.float32]:
        assert self._state is not None
        if self._state.done:
            self._base = None
            obs = np.zeros((self.n, OBS_DIM), dtype=np.float32)
            obs[:, 0] = 1.0
            return obs
        self._base = self.rule.decide(self._state)
        return observe(self._state, self._base)

    @property
    def state(self) -> YearState:
        if self._state is None:
            raise RuntimeError("reset() first")
        return self._state

    def step(self, action: NDArray[np.floating]) -> StepResult:
        """One year for every life: decode ``action`` (n, 2) around the rule, step, reward."""
        state, scenarios, base = self._state, self._scenarios, self._base
        if state is None or scenarios is None or base is None:
            raise RuntimeError("reset() first (or the episode is over)")
        decision = decode(action, base, state.cash_on_hand)
        returns = scenarios.year(state.t)
        nxt, outcome = step(state, decision, returns)
        reward = self.objective.year_utility(outcome.consumption)
        if self._shadow_state is not None:
            # The engine consumes nothing of ``returns``: both lives see the same market.
            shadow_next, shadow_out = step(
                self._shadow_state, self.rule.decide(self._shadow_state), returns
            )
            reward = reward - self.objective.year_utility(shadow_out.consumption)
            self._shadow_state = shadow_next
        if nxt.done:
            reward = reward + self.objective.terminal_utility(nxt.wealth)
            if self._shadow_state is not None:
                reward = reward - self.objective.terminal_utility(self._shadow_state.wealth)
        self._state = nxt
        self.returns += reward
        return StepResult(
            observation=self._observe(),
            reward=reward.astype(np.float32),
            done=nxt.done,
            consumption=outcome.consumption,
            stock_share=outcome.stock_share,
        )
