"""THE objective: the DP optimum, the metrics and the RL reward all use this one.

Lifetime utility of one path, no discounting, in units of the household consumption
scale s (``Schedule.consumption_scale``, normally the retirement spending target):

    U = sum_{t<T} u(max(c_t, f s) / s)  +  [G > 0] g u(max(W_T, f G) / G),   g = G / s

with u(x) = x^(1-gamma) / (1-gamma) (ln x at gamma = 1) and the floor fraction
f = ``FLOOR_FRACTION`` (5 %): a ruined year counts as consumption at 5 % of the scale,
which keeps U finite while still weighing such a year like hundreds of normal ones
(u(0.05) = -200 against u(1) = -0.5 at gamma = 3).

The capital-goal term is the warm-glow bequest B(W) = K u(W / K) with K = G / s, written
in scale units. Its marginal value at W_T = G equals the marginal utility of consuming
the target: the goal amount sets how much terminal wealth matters; it is homogeneous
(scaling every amount by k scales the CE by k) and smooth (DP- and RL-friendly).
(Multiplying U by s^(1-gamma) gives the same objective in money units.)

Certainty equivalent: CE is the steady yearly consumption c such that living on c every
year and ending with the goal scaled in the same proportion (c / s x G: exactly G when
c is the target) is worth the strategy's expected utility:

    T u(c / s) + g u(c / s) = E[U],  i.e.  u(c / s) = E[U] / (T + g)

(no goal: u(c / s) = E[U] / T, the plain mean of yearly utilities). Why not "the goal
exactly met and c every year" (T u(c / s) + g u(1) = E[U])? For gamma > 1 utility is
bounded above, so a household likely to end well above its goal has E[U] > g u(1) and
no such c exists; the proportional form always has a solution, is homogeneous (scaling
every amount by k scales the CE by k) and coincides with the plain CE without a goal.
Its standard error comes from the delta method: dCE/dE[U] = s (CE / s)^gamma / (T + g).

Lifetimes and the floor (the simulator and the DP use exactly this):

    U = sum_{t<D} [ u(max(c_t, f s) / s) + K min(0, u(max(c_t, f s) / s) - u(F_t / s)) ]
        + [G > 0] g u(max(W_D, f G) / G)

- D is the number of years the household lives (until the last adult's death; T under
  FIXED_HORIZON) and W_D the wealth left then: the capital goal is the bequest at death,
  in the same warm-glow form. The CE's T becomes E[D], the expected years lived
  (``expected_years``, exact from the life tables): u(CE / s) = E[U] / (E[D] + g).
- F_t, the floor: ``essential_fraction`` x the spending target in force in a retirement
  year (times the survivor fraction for a lone survivor); the term is absent where
  F_t = 0 (no floor, or before retirement). K = ``FLOOR_PENALTY`` = 10: a unit of
  utility lost below the floor counts 11 times. The penalty is continuous, monotone and
  concave in c (a kink at the floor, no jump), so the DP stays well behaved; a floor of
  0 changes nothing. The same 5 % floor keeps it finite when c = 0.
- The spending-alone CE uses the consumption terms only (no bequest, no penalty):
  u(CE_spend / s) = E[sum_{t<D} u(max(c_t, f s) / s)] / E[D].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .cashflows import Schedule
from .logmath import exp_or_inf
from .state import YearOutcome

FloatArray = NDArray[np.float64]

#: Consumption (and terminal wealth) floor, as a fraction of the scale (of the goal).
FLOOR_FRACTION = 0.05
#: K: how much more a unit of utility lost below the essential-spending floor weighs.
FLOOR_PENALTY = 10.0


def crra(x: FloatArray, gamma: float) -> FloatArray:
    """u(x) for x > 0 (no flooring here)."""
    if gamma == 1.0:
        return np.log(x)
    if gamma == 3.0:  # the default: two multiplies instead of a generic power
        y = np.asarray(x * x, dtype=np.float64)
        return np.asarray(-0.5 / y, dtype=np.float64)
    return np.asarray(x ** (1.0 - gamma) / (1.0 - gamma), dtype=np.float64)


def crra_inverse(v: float, gamma: float) -> float:
    """x with u(x) = v; nan when v is outside u's range."""
    if gamma == 1.0:
        return math.exp(v)
    base = (1.0 - gamma) * v
    if base <= 0:
        return math.nan if gamma < 1.0 or base < 0 else math.inf
    return float(base ** (1.0 / (1.0 - gamma)))


@dataclass(frozen=True)
class Objective:
    """The household's objective: horizon T, scale s, goal G, risk aversion gamma."""

    horizon: int
    scale: float
    capital_goal: float
    gamma: float
    # E[D], the expected years lived (MORTALITY); None: every path lives ``horizon`` years.
    expected_years: float | None = None

    @classmethod
    def for_schedule(cls, schedule: Schedule) -> Objective:
        """The objective of the household behind ``schedule``."""
        lives = schedule.lives
        return cls(
            schedule.horizon,
            schedule.consumption_scale,
            schedule.capital_goal,
            schedule.risk_aversion,
            None if lives is None else lives.expected_years,
        )

    @property
    def years(self) -> float:
        """T, or E[D] under mortality: the years of consumption utility a life holds."""
        return float(self.horizon) if self.expected_years is None else self.expected_years

    @property
    def goal_weight(self) -> float:
        """g = G / s (0 without a goal)."""
        return self.capital_goal / self.scale if self.capital_goal > 0 else 0.0

    def year_utility(self, consumption: FloatArray, floor: FloatArray | None = None) -> FloatArray:
        """u of one year's consumption (money, real), floored, with the penalty below the
        essential-spending ``floor`` (money per path; None or 0: none); the RL reward."""
        x = np.maximum(consumption * (1.0 / self.scale), FLOOR_FRACTION)
        u = crra(x, self.gamma)
        if floor is None:
            return u
        return u + self.floor_penalty(u, floor)

    def outcome_utility(self, outcome: YearOutcome) -> FloatArray:
        """The year's term of U on every path: u with the floor's penalty, 0 on a path
        that is over (nobody alive). The one place the simulator's year term is written
        for a rollout and for the RL rewards, so that the agent learns what is scored."""
        year = self.year_utility(outcome.consumption, outcome.floor)
        if outcome.lived is None:
            return year
        return np.asarray(np.where(outcome.lived, year, 0.0), dtype=np.float64)

    def floor_penalty(self, utility: FloatArray, floor: FloatArray) -> FloatArray:
        """K min(0, u - u(F / s)) where F > 0, from the year's (floored) utility ``u``."""
        with np.errstate(divide="ignore"):
            u_floor = crra(np.maximum(floor * (1.0 / self.scale), FLOOR_FRACTION), self.gamma)
        below = np.minimum(utility - u_floor, 0.0)
        return np.asarray(np.where(floor > 0, FLOOR_PENALTY * below, 0.0), dtype=np.float64)

    def terminal_utility(self, wealth: FloatArray) -> FloatArray:
        """The capital-goal term of terminal real wealth (zeros without a goal)."""
        if self.capital_goal <= 0:
            return np.zeros_like(wealth)
        x = np.maximum(wealth * (1.0 / self.capital_goal), FLOOR_FRACTION)
        return self.goal_weight * crra(x, self.gamma)

    def lifetime_utility(self, consumption: FloatArray, terminal_wealth: FloatArray) -> FloatArray:
        """U per path from consumption of shape (T, n) and terminal wealth (n,)."""
        total = self.year_utility(consumption).sum(axis=0)
        return np.asarray(total + self.terminal_utility(terminal_wealth), dtype=np.float64)

    @property
    def utility_terms(self) -> float:
        """T + g (E[D] + g): how many 'years' of utility a lifetime holds, the goal as g."""
        return self.years + self.goal_weight

    def spending_certainty_equivalent(self, mean_spending_utility: float) -> float:
        """CE of consumption alone: u(CE / s) = E[sum_t u(c_t / s)] / T (or E[D])."""
        return self.scale * crra_inverse(mean_spending_utility / self.years, self.gamma)

    def certainty_equivalent(self, mean_utility: float) -> float:
        """CE (money per year, real) of an expected lifetime utility."""
        return self.scale * crra_inverse(mean_utility / self.utility_terms, self.gamma)

    def log_ce_derivative(self, ce: float) -> float:
        """ln dCE/dE[U] = ln(s (CE / s)^gamma / (T + g)); nan when the CE is not positive.

        In logs because (CE / s)^gamma leaves the floats (CE 1e16 times the scale at
        gamma = 20) while the standard error it scales stays modest.
        """
        if not math.isfinite(ce) or ce <= 0:
            return math.nan
        return (
            math.log(self.scale)
            + self.gamma * math.log(ce / self.scale)
            - math.log(self.utility_terms)
        )

    def ce_standard_error(self, ce: float, utility_standard_error: float) -> float:
        """Delta-method SE of the CE from the SE of the mean lifetime utility."""
        log_k = self.log_ce_derivative(ce)
        if math.isnan(log_k) or not utility_standard_error >= 0:
            return math.nan
        if utility_standard_error == 0:
            return 0.0
        return exp_or_inf(log_k + math.log(utility_standard_error))
