"""What the engine knows about n paths at the start of a year, and what it decides.

Every per-path quantity is a float64 array of shape (n,); quantities the same on every
path (ages, the retired flag, the spending target, planned contributions) are scalars.
All money is real (today's money) unless the name says nominal.

Under MORTALITY a state also says who is alive on each path (``alive``: a bit per adult,
see :mod:`glidepath.engine.lifetimes`) and when each adult's life ends (``death_year``);
under FIXED_HORIZON both are None and every path lives every year of the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np
from numpy.typing import NDArray

from .cashflows import Schedule

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]


class FlowTiming(Enum):
    """When the year's net flow (income - charges - consumption) meets the portfolio.

    MONTHLY (the product's default): 12 equal instalments at the start of each month; a
    flow F with gross annual return R adds (F/12) sum_{j=1..12} R^(j/12).
    START_OF_YEAR: the whole flow at the start of the year, adds F R: the textbook
    (Samuelson, cash-on-hand) timing that the closed forms and the DP optimum assume.
    """

    MONTHLY = "monthly"
    START_OF_YEAR = "start_of_year"


@dataclass(frozen=True)
class YearState:
    """n paths at the start of year t, before this year's flows and returns."""

    schedule: Schedule
    timing: FlowTiming
    t: int
    wealth: FloatArray  # portfolio value, real
    price_index: FloatArray  # P_t: nominal money per unit of today's money (P_0 = 1)
    income: FloatArray  # this year's real income: salary + pensions + other incomes
    pension: FloatArray  # the pension part of ``income``
    charges: FloatArray  # this year's real charges
    human_capital: FloatArray  # H_t: PV of net incomes of the years after t
    wealth_at_retirement: FloatArray  # wealth at the start of the retirement year (nan before)
    last_withdrawal: FloatArray  # last year's realised withdrawal (consumption - disposable)
    ruined: BoolArray  # some earlier withdrawal was cut while someone was alive
    # MORTALITY: the last plan year each adult lives, (adults, n); None: FIXED_HORIZON.
    death_year: IntArray | None = None
    # MORTALITY: who is alive this year, (adults, n); None: everyone, every year.
    alive: BoolArray | None = None
    # MORTALITY: the same as a code per path, a bit per adult (0: the path is over).
    life_code: IntArray | None = None
    # With an annuity offer: the annuity income bought so far per path (before the
    # payment factor of who is alive), real, and for a level annuity nominal money;
    # None: the household has no annuity market.
    annuity_real: FloatArray | None = None
    annuity_nominal: FloatArray | None = None
    # With claiming windows: each claimable pension's planned claiming age per path,
    # (pensions, n), frozen once reached (:mod:`glidepath.engine.claiming`); None: none.
    claim_plan: IntArray | None = None
    # Under regimes: the probability that this year is turbulent as the household sees
    # it (:mod:`glidepath.engine.regime_belief`): the true regime (0 or 1) when it is
    # observable, else the filter's prediction from the returns of the years gone by.
    # None: the market has no regimes.
    regime_belief: FloatArray | None = None

    @property
    def lived(self) -> BoolArray:
        """The paths on which someone lives this year (all of them under FIXED_HORIZON)."""
        if self.life_code is None:
            return np.ones(self.n_paths, dtype=bool)
        return np.asarray(self.life_code > 0)

    @property
    def path_target(self) -> FloatArray:
        """This year's spending target per path: a lone survivor's is the survivor
        fraction of the couple's; 0 once nobody is alive."""
        lives = self.schedule.lives
        if lives is None or self.life_code is None:
            return np.full(self.n_paths, self.spending_target)
        year = lives.flows.spending_target[:, self.t]
        return np.asarray(year.take(self.life_code), dtype=np.float64)

    @property
    def n_paths(self) -> int:
        return int(self.wealth.shape[0])

    @property
    def horizon(self) -> int:
        return self.schedule.horizon

    @property
    def years_left(self) -> int:
        """Decisions left including this year's (1 in the last year)."""
        return self.schedule.horizon - self.t

    @property
    def done(self) -> bool:
        return self.t >= self.schedule.horizon

    @property
    def household_age(self) -> int:
        return int(self.schedule.household_age[self.t])

    @property
    def adult_ages(self) -> tuple[int, ...]:
        return tuple(int(a) for a in self.schedule.adult_ages[:, self.t])

    @property
    def retired(self) -> bool:
        return bool(self.schedule.retired[self.t])

    @property
    def spending_target(self) -> float:
        return float(self.schedule.spending_target[self.t])

    @property
    def planned_contributions(self) -> float:
        """The household's planned savings this year (12 x monthly; 0 in retirement)."""
        return float(self.schedule.contributions[self.t])

    @property
    def disposable(self) -> FloatArray:
        """Income - charges: what can be consumed this year without touching wealth."""
        return self.income - self.charges

    @property
    def cash_on_hand(self) -> FloatArray:
        """X = wealth + disposable: the most that can be consumed this year."""
        return self.wealth + self.disposable


@dataclass(frozen=True)
class Decision:
    """A strategy's choice for every path: stock share in [0, 1], consumption (real, annual)
    and the fraction of the year's wealth to annuitise.

    The engine clips the share to [0, 1] and the consumption to [0, what is there]. The
    purchase comes first, at the start of the year (:func:`glidepath.engine.annuities.
    purchase`): the consumption is taken from the cash on hand it leaves. ``annuitise``
    None buys nothing (every strategy without annuities); a fraction is clipped to
    [0, 1] and to 0 where the household has no offer or before the offer's age.
    """

    stock_share: FloatArray
    consumption: FloatArray
    annuitise: FloatArray | None = None
    # The age at which to claim each claimable pension (``claimable`` order), per path:
    # (pensions, n). None keeps each path's plan: the default age unless a strategy set
    # another. Applied first in the year; a claimed pension's plan no longer moves.
    claim: FloatArray | IntArray | None = None


@dataclass(frozen=True)
class YearOutcome:
    """What happened in year t on every path."""

    t: int
    consumption: FloatArray  # realised (after any cut), real
    requested: FloatArray  # what the strategy asked for
    net_flow: FloatArray  # disposable - consumption: > 0 saved, < 0 withdrawn
    shortfall: FloatArray  # retirement years: max(target - consumption, 0); else 0
    cut: FloatArray  # requested - realised consumption (wealth ran out)
    stock_share: FloatArray  # applied (clipped)
    portfolio_return: FloatArray  # real gross return of the portfolio
    wealth_start: FloatArray  # after this year's annuity purchase, if any
    disposable: FloatArray
    # The paths on which someone lived this year; None: every path (FIXED_HORIZON).
    lived: BoolArray | None = None
    # Retirement years: essential spending (the floor) per path; None: no floor.
    floor: FloatArray | None = None
    # The amount annuitised this year per path (real); None: no purchase was asked for.
    annuitised: FloatArray | None = None

    @property
    def savings(self) -> FloatArray:
        return self.net_flow

    @property
    def withdrawal(self) -> FloatArray:
        return -self.net_flow

    @property
    def savings_rate(self) -> FloatArray:
        """Savings / disposable income (nan where disposable <= 0)."""
        d = np.where(self.disposable > 0, self.disposable, np.nan)
        return np.asarray(self.net_flow / d, dtype=np.float64)

    @property
    def withdrawal_rate(self) -> FloatArray:
        """Withdrawal / wealth at the start of the year (nan where wealth is 0)."""
        w = np.where(self.wealth_start > 0, self.wealth_start, np.nan)
        return np.asarray(-self.net_flow / w, dtype=np.float64)
