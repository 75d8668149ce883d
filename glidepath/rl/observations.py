"""Observations: what the agent sees of a year's state, normalised to fixed bounds.

No running normalisation (``VecNormalize`` pickles its statistics, and they would drift
between households): every feature that holds money is a ratio or a log-ratio to the
household's own consumption scale s (``Schedule.consumption_scale``), so scaling every
amount of money by k leaves the observation unchanged, and each is clipped to a fixed
range:

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
 9  the first adult is alive (1) or not (0)  [0, 1]
10  the second adult is alive (0: none)      [0, 1]
11  E[years lived from now | who is alive]/T  [0, 1]
12  F / s: the essential-spending floor      [0, 2]
13  1 / price of 1 a year of annuity income  [0, 1]
14  annuity income bought / s / 4            [0, 2]
15  pension income claimed / s / 4           [0, 2]
16  pension income claiming now pays / s / 4 [0, 2]
17  adjustment claiming now locks in         [0, 2]
18  P(this year is turbulent), as seen        [0, 1]
19  log(risk aversion) / 2                   [-1, 2]
20  stocks' expected real excess return x 10 [-1, 1]
21  stocks' real log-return volatility x 5   [0, 2]
22  T / 100: the plan's horizon in years     [0, 1]
23  the safe mix's expected real return x 10 [-1, 1]
24  expected inflation x 10                  [-1, 1]
==  =======================================  ===========

Features 9-12 are what lifetimes add: who is alive (a survivor's pension, a lone
survivor's lower need), the survival outlook (how many more years the wealth must
last, from the life tables and who is alive: under the fixed horizon simply (T - t) / T),
and the floor's weight (``essential_fraction`` x the path's target in force, in units of
the scale: 0 without a floor), since years below it cost eleven times as much.
Features 13-14 are the annuity market as a household sees it: the income one unit of
wealth buys this year (0 without an offer, or before the offer's age) and the income
already bought (0 without any).
Features 15-17 are the claiming windows (:mod:`glidepath.engine.claiming`): the annual
amount of the windowed pensions claimed in an earlier year (locked in, at their claimed
ages' amounts), and, over the pensions whose window is open this year (the adult alive,
of an age in the window, the pension not claimed before), what claiming now would pay a
year and the adjustment it would lock in (the amount now over the amount at the default
age: 0.67 at 62 and 1.24 at 70 for the US defaults; the mean over open windows, 0 where
none is open, so 17 > 0 also says that a window is open). A non-indexed pension's
amounts are in today's money (deflated by the path's price index). Without a window all
three are 0.
Feature 18 is the market regime as the household sees it (``YearState.regime_belief``,
:mod:`glidepath.engine.regime_belief`): the true regime (0 calm, 1 turbulent) where the
household's market says regimes are observable, otherwise the filter's probability from
the returns seen so far; 0 without regimes. The policy never reads the hidden regime.
Features 19-24 are the household's parameters that move the optimal policy but that no
other feature shows, so that one generic policy can serve a whole profile family
(:mod:`glidepath.rl.family`) rather than one household: the same state calls for
another decision at another risk aversion or in another market. They are the same on
every path and in every year (one row, broadcast), hold no money, and over the default
family sit well inside their ranges (200 of its households: 19 from 0.20 to 0.89, 20
0.12-0.58, 21 0.66-0.94, 22 0.41-0.80, 23 -0.04 to 0.33, 24 0.15-0.35; docs/families.md).
The market's figures are the engine's own summary of it (``Schedule.market``,
:class:`glidepath.engine.market.MarketModel`): real, with the household's bond:cash mix
as the non-stock ("safe") asset, and under regimes the stationary mixture's, which is
what the rule plans with (18 says which regime is in force). 20 is the premium, E[real
gross stocks] minus E[real gross safe mix], that over gamma x variance sets Merton's
share; 21 the standard deviation of the stocks' real log return; 23 the safe mix's
expected real return, which discounts the human capital and sets how fast wealth can be
spent; 24 the long-run mean inflation, which erodes non-indexed pensions and nominal
annuities in the years to come (14-16 deflate this year's amounts only). 22 is the
horizon in years (to the last age anyone can reach under mortality, to the life
expectancy otherwise): 0, 1 and 11 are fractions of it, so without it a 30-year and a
60-year plan look alike.

The rule's own decisions (5, 6) are features because the action is a correction of
them: the agent learns "how far off the rule is here", which is easiest when it sees
what the rule does. Money floors (1 % of s) keep logs finite when wealth runs out.
"""

from __future__ import annotations

import math

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from glidepath.engine.cashflows import Schedule
from glidepath.engine.market import STOCKS
from glidepath.engine.regimes import expected_inflation
from glidepath.engine.state import Decision, YearState

FloatArray = NDArray[np.float64]

# fmt: off
OBS_LOW = np.array(
    [0.0, 0.0, -2.0, -2.0, -2.0, 0.0, 0.0, 0.0, -2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
     0.0, 0.0, 0.0, 0.0, -1.0, -1.0, 0.0, 0.0, -1.0, -1.0],
    dtype=np.float32,
)
OBS_HIGH = np.array(
    [1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 1.0, 2.0, 2.0, 1.0, 1.0, 1.0, 2.0, 1.0, 2.0,
     2.0, 2.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 1.0, 1.0],
    dtype=np.float32,
)
# fmt: on
OBS_DIM = int(OBS_LOW.shape[0])
#: Where the household's parameters (features 19-24) sit in the observation.
PARAMETERS = slice(19, OBS_DIM)
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
    obs[:, 9], obs[:, 10] = _alive_flags(state)
    obs[:, 11] = _years_left(state) / horizon
    obs[:, 12] = schedule.household.goals.essential_fraction * state.path_target / s
    obs[:, 13], obs[:, 14] = _annuities(state)
    obs[:, 15], obs[:, 16], obs[:, 17] = _claims(state)
    obs[:, 18] = 0.0 if state.regime_belief is None else state.regime_belief
    obs[:, PARAMETERS] = household_parameters(schedule)
    np.clip(obs, OBS_LOW, OBS_HIGH, out=obs)
    return obs.astype(np.float32)


def household_parameters(schedule: Schedule) -> FloatArray:
    """Features 19-24 (unclipped): the risk aversion, the market's moments and the
    horizon, the same on every path and in every year of ``schedule``."""
    market = schedule.market
    stocks = float(market.expected_real_gross()[STOCKS])
    safe = market.expected_nonstock_gross()
    volatility = math.sqrt(float(market.real_log_cov[STOCKS, STOCKS]))
    return np.array(
        [
            math.log(schedule.risk_aversion) / 2.0,
            (stocks - safe) * 10.0,
            volatility * 5.0,
            schedule.horizon / 100.0,
            (safe - 1.0) * 10.0,
            expected_inflation(schedule.household.market) * 10.0,
        ]
    )


def _alive_flags(state: YearState) -> tuple[FloatArray | float, FloatArray | float]:
    """Whether each adult is alive (the fixed horizon: every adult the household has)."""
    adults = len(state.schedule.household.adults)
    if state.alive is None:
        return 1.0, 1.0 if adults == 2 else 0.0
    second = state.alive[1].astype(np.float64) if adults == 2 else 0.0
    return state.alive[0].astype(np.float64), second


def _annuities(state: YearState) -> tuple[FloatArray | float, FloatArray | float]:
    """The payout rate on offer this year (income per unit of wealth) and the income held
    in units of the scale (a level annuity's at today's prices), / 4."""
    market = state.schedule.annuities
    if market is None:
        return 0.0, 0.0
    s = state.schedule.consumption_scale
    held: FloatArray | float = 0.0
    if state.annuity_real is not None and state.annuity_nominal is not None:
        held = (state.annuity_real + state.annuity_nominal / state.price_index) / s / 4.0
    if not market.allowed(state.t):
        return 0.0, held
    price = market.price[:, state.t].take(market.codes(state))
    with np.errstate(divide="ignore"):
        rate = np.where(price > 0.0, 1.0 / price, 0.0)
    return rate, held


def _claims(state: YearState) -> tuple[FloatArray | float, FloatArray | float, FloatArray | float]:
    """(income claimed before this year, income claiming now pays, the mean adjustment
    claiming now locks in over the open windows): the first two / s / 4."""
    options = state.schedule.claims
    if options is None or state.claim_plan is None:
        return 0.0, 0.0, 0.0
    schedule = state.schedule
    n = state.n_paths
    claimed, now_pays = np.zeros(n), np.zeros(n)
    adjustment, windows = np.zeros(n), np.zeros(n)
    for i, p in enumerate(options.pensions):
        amounts = np.asarray(p.amounts, dtype=np.float64)
        if not schedule.household.incomes[p.income].indexed_to_inflation:
            amounts = amounts[:, None] / state.price_index[None, :]  # (ages, n)
        else:
            amounts = np.repeat(amounts[:, None], n, axis=1)
        columns = np.arange(n)
        plan = state.claim_plan[i]
        age = int(schedule.adult_ages[p.adult, state.t])
        done = plan < age
        at_plan = amounts[np.clip(plan - p.earliest, 0, len(p.ages) - 1), columns]
        claimed += np.where(done, at_plan, 0.0)
        if not p.earliest <= age <= p.latest:
            continue
        is_open = ~done
        if state.alive is not None:
            is_open &= state.alive[p.adult]
        default = p.amounts[p.default_age - p.earliest]
        now = amounts[age - p.earliest]
        now_pays += np.where(is_open, now, 0.0)
        adjustment += np.where(is_open, p.amounts[age - p.earliest] / default, 0.0)
        windows += is_open
    s = schedule.consumption_scale
    mean = np.divide(adjustment, windows, out=np.zeros(n), where=windows > 0)
    return claimed / s / 4.0, now_pays / s / 4.0, mean


def _years_left(state: YearState) -> FloatArray | float:
    """Expected years lived from this year on, given who is alive on each path."""
    lives = state.schedule.lives
    if lives is None or state.life_code is None:
        return float(state.years_left)
    return np.asarray(lives.years_left[state.life_code, state.t], dtype=np.float64)


def terminal_observation(n: int) -> NDArray[np.float32]:
    """A placeholder observation after the last year (its value is never bootstrapped:
    the episode ends by termination, so SB3 does not use it): progress 1, every other
    feature 0, which lies inside every feature's range."""
    obs = np.zeros((n, OBS_DIM), dtype=np.float32)
    obs[:, 0] = 1.0
    return obs
