"""Strategies: given the state of all paths, the stock share and consumption of each.

A strategy is bound to one household (it may precompute from its schedule and market)
and must be pure: ``decide`` reads the state and returns new arrays. The RL policy plugs
in through the same :class:`Strategy` protocol.

Rules of thumb (4 % rule, glide path, VPW, guardrails) are decumulation rules: before
retirement they save like the household's own plan (its monthly contributions, or all
of the disposable income if that is less); they differ in retirement and in allocation.
In retirement a withdrawal w means consumption = disposable + w (pensions - charges + w).
The Merton rule and the optimum choose consumption in every year.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from glidepath.errors import InvalidArgument
from glidepath.household.model import Household
from glidepath.text import clip

from .cashflows import FloatArray, Schedule, build_schedule
from .logmath import exp_or_inf
from .quadrature import return_nodes, samuelson_log_b, samuelson_share
from .state import Decision, YearState


@runtime_checkable
class Strategy(Protocol):
    """Decides for every path at once; never mutates the state."""

    @property
    def name(self) -> str: ...

    def decide(self, state: YearState) -> Decision: ...


def plan_consumption(state: YearState) -> FloatArray:
    """Before retirement: disposable - planned contributions (>= 0). In retirement: target."""
    if state.retired:
        return np.full(state.n_paths, state.spending_target)
    return np.maximum(state.disposable - state.planned_contributions, 0.0)


def _constant(state: YearState, value: float) -> FloatArray:
    return np.full(state.n_paths, value)


def annuity_due_factor(rate: float, years: int) -> float:
    """Value at the start of year 1 of 1 paid at the start of each of ``years`` years."""
    if years <= 0:
        return 0.0
    if rate == 0.0:
        return float(years)
    v = 1.0 / (1.0 + rate)
    return float((1.0 - v**years) / (1.0 - v))


@dataclass(frozen=True)
class OwnPlan:
    """The household's plan: current allocation, planned contributions, target spending."""

    stock_share: float
    name: str = "own_plan"

    def decide(self, state: YearState) -> Decision:
        return Decision(_constant(state, self.stock_share), plan_consumption(state))


@dataclass(frozen=True)
class FourPercentRule:
    """Fixed mix; in retirement withdraw ``rate`` x wealth at retirement, constant in real terms."""

    stock_share: float
    rate: float = 0.04
    name: str = "four_percent_rule"

    def decide(self, state: YearState) -> Decision:
        if not state.retired:
            return Decision(_constant(state, self.stock_share), plan_consumption(state))
        withdrawal = self.rate * state.wealth_at_retirement
        return Decision(_constant(state, self.stock_share), state.disposable + withdrawal)


@dataclass(frozen=True)
class GlidePath:
    """Stocks = clip((base - age) / 100, 0, 1) on the household's age; target spending."""

    base: float = 110.0
    name: str = "glide_path"

    def decide(self, state: YearState) -> Decision:
        share = min(max((self.base - state.household_age) / 100.0, 0.0), 1.0)
        return Decision(_constant(state, share), plan_consumption(state))


@dataclass(frozen=True)
class VariablePercentageWithdrawal:
    """Fixed mix; in retirement withdraw (W - reserve) / annuity-due factor (years left, ``rate``).

    The reserve is the capital goal discounted at ``rate`` to today (0 without a goal): VPW
    annuitises the wealth not earmarked for the goal instead of running it to zero.
    """

    stock_share: float
    goal: float = 0.0
    rate: float = 0.03
    name: str = "vpw"

    def decide(self, state: YearState) -> Decision:
        if not state.retired:
            return Decision(_constant(state, self.stock_share), plan_consumption(state))
        n = state.years_left
        reserve = self.goal / (1.0 + self.rate) ** n
        free = np.maximum(state.wealth - reserve, 0.0)
        withdrawal = free / annuity_due_factor(self.rate, n)
        return Decision(_constant(state, self.stock_share), state.disposable + withdrawal)


@dataclass(frozen=True)
class Guardrails:
    """Guyton-Klinger, in real terms: start at ``initial_rate`` x wealth at retirement, keep
    last year's real withdrawal, cut it by ``adjustment`` when the current rate exceeds
    (1 + ``band``) x the initial rate, raise it by ``adjustment`` below (1 - ``band``) x."""

    stock_share: float
    initial_rate: float = 0.05
    band: float = 0.20
    adjustment: float = 0.10
    name: str = "guardrails"

    def decide(self, state: YearState) -> Decision:
        share = _constant(state, self.stock_share)
        if not state.retired:
            return Decision(share, plan_consumption(state))
        if state.t == state.schedule.retirement_year:
            withdrawal = self.initial_rate * state.wealth
        else:
            withdrawal = np.maximum(state.last_withdrawal, 0.0)
            safe_wealth = np.where(state.wealth > 0, state.wealth, np.nan)
            rate = withdrawal / safe_wealth
            high = ~(rate <= self.initial_rate * (1.0 + self.band))  # nan (no wealth) counts high
            low = rate < self.initial_rate * (1.0 - self.band)
            withdrawal = np.where(high, withdrawal * (1.0 - self.adjustment), withdrawal)
            withdrawal = np.where(low, withdrawal * (1.0 + self.adjustment), withdrawal)
        return Decision(share, state.disposable + withdrawal)


@dataclass(frozen=True)
class MertonRule:
    """Total-wealth rule (rl-findings.md), Samuelson's discrete optimum on total wealth.

    Cash on hand X = W + d, human capital H (PV of later net income). Consumption
    c = (X + H) / f_n with n years left and f_n = sum_{k<n} b^k + b^n g (g = goal / scale,
    b = E[R_p*^(1-gamma)]^(1/gamma)): exactly Samuelson's optimum, bequest included, when
    there is no income. Stock share of savings S = X - c: clip(pi* (S + H) / S, 0, 1).

    b is held as ln b and f_n computed through logs (:meth:`log_consumption_factor`): at
    risk aversion 0.1 in an optimistic market b is about 1e16, so b^n overflows a float
    within 20 years while the rate 1 / f_n it gives is merely tiny.
    """

    pi_star: float
    log_b: float
    goal_weight: float
    name: str = "merton"

    def log_consumption_factor(self, years_left: int) -> float:
        """ln f_n, f_n = sum_{k<n} b^k + b^n g: the annuity in closed form, through logs."""
        n, log_b = years_left, self.log_b
        if log_b == 0.0:
            log_annuity = math.log(n)
        elif log_b > 0.0:  # (b^n - 1) / (b - 1)
            log_annuity = n * log_b + math.log(-math.expm1(-n * log_b)) - _log_expm1(log_b)
        else:  # (1 - b^n) / (1 - b)
            log_annuity = math.log(-math.expm1(n * log_b)) - math.log(-math.expm1(log_b))
        if self.goal_weight <= 0.0:
            return log_annuity
        return float(np.logaddexp(log_annuity, n * log_b + math.log(self.goal_weight)))

    def consumption_factor(self, years_left: int) -> float:
        """f_n itself (inf where it leaves the floats: the rate 1 / f_n is then 0)."""
        return exp_or_inf(self.log_consumption_factor(years_left))

    def decide(self, state: YearState) -> Decision:
        x = state.cash_on_hand
        h = state.human_capital
        rate = math.exp(-self.log_consumption_factor(state.years_left))
        c = np.maximum((x + h) * rate, 0.0)
        c = np.minimum(c, np.maximum(x, 0.0))
        s = x - c
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(s > 0, self.pi_star * (s + h) / s, 1.0)
        return Decision(np.clip(share, 0.0, 1.0), c)

    @classmethod
    def for_schedule(cls, schedule: Schedule) -> MertonRule:
        nodes = return_nodes(schedule.market)
        gamma = schedule.risk_aversion
        pi = samuelson_share(nodes, gamma)
        goal_weight = schedule.capital_goal / schedule.consumption_scale
        return cls(pi, samuelson_log_b(nodes, pi, gamma), goal_weight)


def _log_expm1(x: float) -> float:
    """ln(e^x - 1) for x > 0, without overflow for large x."""
    return x + math.log(-math.expm1(-x)) if x > 1.0 else math.log(math.expm1(x))


StrategyFactory = Callable[[Household], Strategy]


def _own(h: Household) -> Strategy:
    return OwnPlan(build_schedule(h).stock_share)


def _four(h: Household) -> Strategy:
    return FourPercentRule(build_schedule(h).stock_share)


def _glide(h: Household) -> Strategy:
    return GlidePath()


def _vpw(h: Household) -> Strategy:
    schedule = build_schedule(h)
    return VariablePercentageWithdrawal(schedule.stock_share, schedule.capital_goal)


def _guard(h: Household) -> Strategy:
    return Guardrails(build_schedule(h).stock_share)


def _merton(h: Household) -> Strategy:
    return MertonRule.for_schedule(build_schedule(h))


def _optimum(h: Household) -> Strategy:
    from .optimum import optimum_strategy  # heavy solver, imported on demand

    return optimum_strategy(h)


#: Built-in strategies by the names the simulation service uses.
STRATEGIES: dict[str, StrategyFactory] = {
    "own_plan": _own,
    "four_percent_rule": _four,
    "glide_path": _glide,
    "vpw": _vpw,
    "guardrails": _guard,
    "merton": _merton,
    "optimum": _optimum,
}


def make_strategy(name: str, household: Household) -> Strategy:
    """The built-in strategy ``name`` bound to ``household``; InvalidArgument if unknown."""
    factory = STRATEGIES.get(name)
    if factory is None:
        raise InvalidArgument.field(
            "strategies", f"unknown strategy {clip(name)!r}; known: {', '.join(STRATEGIES)}"
        )
    return factory(household)
