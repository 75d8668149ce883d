"""A batch of simulated lives for the agent, and the reward that makes small budgets learn.

This is the environment's core, shared by the single gymnasium env and the vectorised
``VecEnv``: it only strings engine calls together (``initial_state``, the market's
``Scenarios``, ``step``, the base rule of :func:`actions.base_rule`, the ``Objective``),
so the agent lives in exactly the world the simulation service evaluates strategies in.

Three rewards, all in the objective's units (CRRA utility of consumption / the household
consumption scale s, plus the capital-goal term at the end), so one recipe fits small and
large households (scaling every amount by k changes no reward):

- ``OBJECTIVE``: r_t = u(c_t / s) (+ the goal term at the end). The plain objective.
- ``SHADOW``: next to every agent life, the base rule lives the same market from
  the same start; r_t = u(c_t / s) - u(c_t^rule / s) (+ the goal terms' difference). The
  shadow never depends on the agent's actions, so it is a baseline: the expected return
  moves by a constant and the policy gradient stays unbiased, while the market luck that
  dominates a life's utility cancels.
- ``RULE_ADVANTAGE`` (the default): the year's decision is scored by what it changes on
  *this* market: r_t = U(agent's decision at t, then the rule) - U(the rule's decision at
  t, then the rule), both continuations run to the horizon on the life's own future
  market (common random numbers). Its expectation given the state is the rule's
  advantage function A_rule(s, a) = Q_rule(s, a) - V_rule(s), so with gamma = 0 PPO
  learns the *greedy improvement of the rule* (one step of policy iteration, which from
  a rule this close to the optimum recovers most of what is left: policy iteration
  converges quadratically). The paired continuations differ only by one year's
  decision, so the estimate is almost noise-free: this is what lets 1,000 lives learn.
  Cost: two continuations of (T - t) years per year, i.e. about T^2 engine steps per
  life, all lives at once in numpy. ``deferred=True`` (what the trainer uses) runs every
  open continuation in lockstep with the life (all are at the same year, so one engine
  call a year steps them all) and delivers the year's rewards when the life ends, in
  :attr:`Lives.deferred_rewards`; the immediate mode (the default, what the gymnasium
  env returns) computes each year's continuations at once. Both give the same numbers.

Lives in one batch start and end together (the horizon is the household's), so a batch
resets as a whole. Under mortality each life also draws its adults' ages at death
(:func:`glidepath.engine.lifetimes.draw_death_years`, seeded by the episode's market
seed on the deaths' own streams): the plan runs to the tables' last age, and the years
after the last death hold no utility, so their rewards are 0 and the agent learns only
from years someone lives. Every year term is the simulator's own
(:meth:`Objective.outcome_utility`: the floor's penalty included), so the agent is
trained on exactly what the comparison scores.

Episode k of a batch seeded ``seed`` draws its markets from the engine's
``Scenarios(episode_seed(seed, k), start=first_path, n)``: path i's market depends only
on (seed, k, i), so one life of a batch can be replayed alone."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import Enum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from glidepath.engine.cashflows import build_schedule
from glidepath.engine.lifetimes import draw_death_years
from glidepath.engine.market import Scenarios, YearReturns
from glidepath.engine.objective import Objective
from glidepath.engine.state import Decision, FlowTiming, YearState
from glidepath.engine.step import initial_state, step
from glidepath.household.model import Household

from .actions import base_rule, decide
from .observations import observe, terminal_observation

FloatArray = NDArray[np.float64]

#: Spawn key of the training's market streams ("TRAN"): disjoint from the evaluation's.
TRAINING_SPAWN_KEY = 0x5452414E
#: Bound on |reward| (objective units). A reward is a difference of utilities of the scale,
#: of the order of 1 for any household near its spending target; with risk aversion
#: below 1 utility is unbounded above, and at the bounds of validation (consumption 1e60
#: times the scale) a reward leaves float32, the type SB3 keeps rewards in, and its squares
#: overflow PPO's losses. Clipped there, it keeps its sign and order of magnitude.
REWARD_LIMIT = 1e9


class Reward(Enum):
    OBJECTIVE = "objective"
    SHADOW = "shadow"
    RULE_ADVANTAGE = "rule_advantage"


def episode_seed(seed: int, episode: int) -> int:
    """The market seed of episode ``episode`` of a batch seeded ``seed``."""
    sequence = np.random.SeedSequence(seed, spawn_key=(TRAINING_SPAWN_KEY, episode))
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def _bounded(reward: FloatArray) -> FloatArray:
    """``reward`` clipped to +-REWARD_LIMIT."""
    return np.clip(reward, -REWARD_LIMIT, REWARD_LIMIT)


def _tile_state(state: YearState, k: int) -> YearState:
    """``state`` with its paths repeated ``k`` times (copy 0, copy 1, ...)."""
    arrays: dict[str, Any] = {
        f.name: np.tile(getattr(state, f.name), k)
        for f in fields(state)
        if isinstance(getattr(state, f.name), np.ndarray)
    }
    return replace(state, **arrays)


def _tile_returns(returns: YearReturns, k: int) -> YearReturns:
    def tile(x: FloatArray | None) -> FloatArray | None:
        return None if x is None else np.tile(x, k)

    return YearReturns(
        stocks=np.tile(returns.stocks, k),
        bonds=tile(returns.bonds),
        cash=tile(returns.cash),
        nonstock=np.tile(returns.nonstock, k),
        inflation=np.tile(returns.inflation, k),
        turbulent_next=(
            None if returns.turbulent_next is None else np.tile(returns.turbulent_next, k)
        ),
    )


def _concat_states(a: YearState, b: YearState) -> YearState:
    """The paths of ``a`` then those of ``b`` (same household, same year)."""
    arrays: dict[str, Any] = {
        f.name: np.concatenate([getattr(a, f.name), getattr(b, f.name)], axis=-1)
        for f in fields(a)
        if isinstance(getattr(a, f.name), np.ndarray)
    }
    return replace(a, **arrays)


def _stack(a: Decision, b: Decision) -> Decision:
    annuitise = None
    if a.annuitise is not None or b.annuitise is not None:
        parts = [
            np.zeros_like(d.consumption) if d.annuitise is None else d.annuitise for d in (a, b)
        ]
        annuitise = np.concatenate(parts)
    claim = None
    plans = [d.claim for d in (a, b) if d.claim is not None]
    if plans:
        # NaN keeps a path's plan (:func:`glidepath.engine.claiming.claim`): the rule's.
        pensions = plans[0].shape[0]
        parts = [
            np.full((pensions, d.consumption.shape[0]), np.nan)
            if d.claim is None
            else np.asarray(d.claim, dtype=np.float64)
            for d in (a, b)
        ]
        claim = np.concatenate(parts, axis=-1)
    return Decision(
        np.concatenate([a.stock_share, b.stock_share]),
        np.concatenate([a.consumption, b.consumption]),
        annuitise,
        claim,
    )


@dataclass
class StepResult:
    observation: NDArray[np.float32]  # next observation (the terminal one when done)
    reward: NDArray[np.float32]
    done: bool
    consumption: FloatArray
    stock_share: FloatArray


class Lives:
    """``n`` agent lives (paths ``first_path`` .. ``first_path + n - 1``) of one household."""

    def __init__(
        self,
        household: Household,
        n: int,
        *,
        first_path: int = 0,
        reward: Reward = Reward.RULE_ADVANTAGE,
        timing: FlowTiming = FlowTiming.MONTHLY,
        deferred: bool = False,
    ) -> None:
        if n <= 0:
            raise ValueError("need at least one life")
        self.schedule = build_schedule(household)
        self.rule = base_rule(self.schedule)
        self.objective = Objective.for_schedule(self.schedule)
        self.n = n
        self.first_path = first_path
        self.reward = reward
        self.timing = timing
        self.deferred = deferred and reward is Reward.RULE_ADVANTAGE
        self.horizon = self.schedule.horizon
        self._open: YearState | None = None  # lockstep continuations (deferred mode)
        self._open_utility = np.zeros(0)
        #: Deferred mode: every year's reward (T, n) of the last life, once it has ended.
        self.deferred_rewards: FloatArray | None = None
        self._state: YearState | None = None
        self._shadow_state: YearState | None = None
        self._market: list[YearReturns] = []
        self._paired_market: list[YearReturns] = []  # each year's returns, twice
        self._base: Decision | None = None
        self.returns = np.zeros(n)  # reward summed over the current episode, per life

    def reset(self, market_seed: int) -> NDArray[np.float32]:
        """Start every life at t = 0 on the markets of ``market_seed``; first observations."""
        scenarios = Scenarios(self.schedule.market, market_seed, self.first_path, self.n)
        # The whole life's market up front: the continuations need the future years.
        self._market = [scenarios.year(t) for t in range(self.horizon)]
        if self.reward is Reward.RULE_ADVANTAGE:
            self._paired_market = [_tile_returns(r, 2) for r in self._market]
        deaths = None
        if self.schedule.lives is not None:  # deaths on their own streams, beside the market
            deaths = draw_death_years(self.schedule.lives, market_seed, self.first_path, self.n)
        self._state = initial_state(
            self.schedule,
            self.n,
            timing=self.timing,
            death_year=deaths,
            turbulent=scenarios.first_turbulent,
        )
        self._shadow_state = self._state if self.reward is Reward.SHADOW else None
        self.returns = np.zeros(self.n)
        self._open, self._open_utility, self.deferred_rewards = None, np.zeros(0), None
        return self._observe()

    def _observe(self) -> NDArray[np.float32]:
        assert self._state is not None
        if self._state.done:
            self._base = None
            return terminal_observation(self.n)
        self._base = self.rule.decide(self._state)
        return observe(self._state, self._base)

    @property
    def state(self) -> YearState:
        if self._state is None:
            raise RuntimeError("reset() first")
        return self._state

    def _advantage(self, state: YearState, decision: Decision, base: Decision) -> FloatArray:
        """U(decision, then the rule) - U(the rule throughout) from year t on this market."""
        n, t = self.n, state.t
        pair = _tile_state(state, 2)
        market = self._paired_market
        pair, outcome = step(pair, _stack(decision, base), market[t])
        utility = self.objective.outcome_utility(outcome)
        for k in range(t + 1, self.horizon):
            pair, outcome = step(pair, self.rule.decide(pair), market[k])
            utility += self.objective.outcome_utility(outcome)
        utility += self.objective.terminal_utility(pair.wealth)
        return np.asarray(utility[:n] - utility[n:], dtype=np.float64)

    def _advance_open(self, state: YearState, decision: Decision, base: Decision) -> None:
        """Open this year's pair of continuations and step every open one a year."""
        pair, pair_decision = _tile_state(state, 2), _stack(decision, base)
        if self._open is None:
            open_, decisions, utility = pair, pair_decision, np.zeros(2 * self.n)
        else:
            open_ = _concat_states(self._open, pair)
            decisions = _stack(self.rule.decide(self._open), pair_decision)
            utility = np.concatenate([self._open_utility, np.zeros(2 * self.n)])
        copies = open_.n_paths // self.n
        open_, outcome = step(open_, decisions, _tile_returns(self._market[state.t], copies))
        utility += self.objective.outcome_utility(outcome)
        if open_.done:
            utility += self.objective.terminal_utility(open_.wealth)
            by_year = utility.reshape(self.horizon, 2, self.n)
            self.deferred_rewards = _bounded(by_year[:, 0, :] - by_year[:, 1, :])
            self.returns = self.deferred_rewards.sum(axis=0)
            self._open, self._open_utility = None, np.zeros(0)
        else:
            self._open, self._open_utility = open_, utility

    def step(self, action: NDArray[np.floating]) -> StepResult:
        """One year for every life: decode ``action`` (n, 2) around the rule, step, reward."""
        state, base = self._state, self._base
        if state is None or base is None:
            raise RuntimeError("reset() first (or the episode is over)")
        decision = decide(action, base, state, self.rule)
        returns = self._market[state.t]
        nxt, outcome = step(state, decision, returns)
        if self.deferred:
            self._advance_open(state, decision, base)
            reward = np.zeros(self.n)  # delivered in deferred_rewards when the life ends
        elif self.reward is Reward.RULE_ADVANTAGE:
            reward = self._advantage(state, decision, base)
        else:
            reward = self.objective.outcome_utility(outcome)
            if nxt.done:
                reward = reward + self.objective.terminal_utility(nxt.wealth)
        if self._shadow_state is not None:
            # The engine consumes nothing of ``returns``: both lives see the same market.
            shadow_next, shadow_out = step(
                self._shadow_state, self.rule.decide(self._shadow_state), returns
            )
            reward = reward - self.objective.outcome_utility(shadow_out)
            if shadow_next.done:
                reward = reward - self.objective.terminal_utility(shadow_next.wealth)
            self._shadow_state = shadow_next
        self._state = nxt
        if not self.deferred:
            self.returns += reward
        return StepResult(
            observation=self._observe(),
            reward=_bounded(reward).astype(np.float32),
            done=nxt.done,
            consumption=outcome.consumption,
            stock_share=outcome.stock_share,
        )
