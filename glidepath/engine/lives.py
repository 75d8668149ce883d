"""Who is alive, year by year, as the dynamic programme sees a household.

A household's life state is the set of its adults alive at the start of a year: a
single adult has one state, (0,); a couple has three, both (0, 1), only adult 0 (0,)
and only adult 1 (1,). Nobody alive ends the plan: the wealth left is the bequest.

Timing (the simulator's): an adult alive at the start of the year in which they are
aged a lives that whole year and survives to the next with p_a = 1 - q_a, the two
adults independently. The table is the adult's ``mortality_table``, else the default
law of ``mortality`` calibrated to their ``life_expectancy``. Under
``Lifetimes.FIXED_HORIZON`` every adult dies at the end of the year before their life
expectancy (p = 1 before it, 0 then).

Cash flows of a state, real (non-indexed amounts deflated by the expected price index,
which is exact when inflation is not random): each living adult earns their salary
until retirement; an income pays its amount while its adult is alive, and
``survivor_fraction`` of it when its adult has died and the other lives; charges run
on the household's clock whoever is alive. The essential-spending floor of a retired
year is ``essential_fraction`` x the spending target in force, x
``survivor_spending_fraction`` when one adult of a couple is alive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glidepath.household.model import Household, Lifetimes

from . import mortality
from .cashflows import BoolArray, FloatArray, IntArray, build_schedule
from .regimes import expected_inflation

#: Life states of a single adult and of a couple, the initial one (everybody) first.
SINGLE_STATES: tuple[tuple[int, ...], ...] = ((0,),)
COUPLE_STATES: tuple[tuple[int, ...], ...] = ((0, 1), (0,), (1,))


def life_states(household: Household) -> tuple[tuple[int, ...], ...]:
    """The household's life states, everybody alive first."""
    return COUPLE_STATES if len(household.adults) == 2 else SINGLE_STATES


def life_table(household: Household, adult: int) -> mortality.LifeTable:
    """Adult ``adult``'s table: their explicit one, else the default law calibrated."""
    a = household.adults[adult]
    if a.mortality_table is not None:
        return mortality.LifeTable(a.mortality_table.first_age, np.array(a.mortality_table.q))
    return mortality.table_for_life_expectancy(
        a.current_age,
        float(a.life_expectancy),
        field=f"household.adults[{adult}].life_expectancy",
    )


def survival(household: Household) -> FloatArray:
    """p[j, t]: P(adult j alive at the start of year t + 1 | alive at the start of t).

    Shape (adults, T) with T the years any adult can still live: the latest table end
    (MORTALITY) or the latest life expectancy (FIXED_HORIZON). p is 0 from an adult's
    last possible year on.
    """
    adults = household.adults
    if household.lifetimes is Lifetimes.FIXED_HORIZON:
        horizon = household.horizon_years
        t = np.arange(horizon)
        return np.array(
            [(t < a.life_expectancy - a.current_age - 1).astype(np.float64) for a in adults]
        )
    tables = [life_table(household, j) for j in range(len(adults))]
    horizon = max(tb.max_age + 1 - a.current_age for tb, a in zip(tables, adults, strict=True))
    p = np.zeros((len(adults), horizon))
    for j, (tb, a) in enumerate(zip(tables, adults, strict=True)):
        q = tb.q_from(a.current_age, field=f"household.adults[{j}].current_age")
        p[j, : q.size] = 1.0 - q
    return p


def transitions(
    states: tuple[tuple[int, ...], ...], p: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """(to_state, to_none): P(state s at t -> s' at t + 1), shape (T, S, S), and
    P(s at t -> nobody alive at t + 1), shape (T, S). Adults die independently."""
    horizon = p.shape[1]
    n = len(states)
    to_state = np.zeros((horizon, n, n))
    to_none = np.zeros((horizon, n))
    for i, s in enumerate(states):
        none = np.ones(horizon)
        for j in s:
            none = none * (1.0 - p[j])
        to_none[:, i] = none
        for k, s2 in enumerate(states):
            if not set(s2) <= set(s):
                continue
            prob = np.ones(horizon)
            for j in s:
                prob = prob * (p[j] if j in s2 else 1.0 - p[j])
            to_state[:, i, k] = prob
    return to_state, to_none


@dataclass(frozen=True)
class StateFlows:
    """Per life state: real net income (S, T + 1; entry T is 0) and floor (S, T), money."""

    net_income: FloatArray
    floor: FloatArray


def state_flows(household: Household, horizon: int) -> StateFlows:
    """Net income (incomes - charges) and the essential floor of every life state."""
    states = life_states(household)
    n = horizon + 1
    t = np.arange(n)
    live = t < horizon
    deflate = 1.0 / (1.0 + expected_inflation(household.market)) ** t
    ages = np.array([a.current_age + t for a in household.adults], dtype=np.int64)
    own = np.zeros((len(household.adults), n))  # paid while the adult lives
    survivor = np.zeros((len(household.adults), n))  # paid once the adult has died
    for j, a in enumerate(household.adults):
        working = (ages[j] < a.retirement_age) & live
        own[j] += np.where(working, a.net_income * (1.0 + a.income_growth) ** t, 0.0)
    for inc in household.incomes:
        a_ages = ages[inc.adult]
        end = np.iinfo(np.int64).max if inc.end_age is None else inc.end_age
        active = (a_ages >= inc.start_age) & (a_ages < end) & live
        amount = np.where(active, inc.amount * (1.0 + inc.growth) ** t, 0.0)
        if not inc.indexed_to_inflation:
            amount = amount * deflate
        own[inc.adult] += amount
        survivor[inc.adult] += inc.survivor_fraction * amount
    charges = np.zeros(n)
    hh_age = household.start_age + t
    for ch in household.charges:
        active = live.copy()
        if ch.start_age is not None:
            active &= hh_age >= ch.start_age
        if ch.end_age is not None:
            active &= hh_age < ch.end_age
        charges += np.where(active, ch.amount * (1.0 if ch.indexed_to_inflation else deflate), 0.0)
    target = _target(household, hh_age, live)
    net = np.zeros((len(states), n))
    floor = np.zeros((len(states), horizon))
    retired = t[:horizon] >= household.retirement_year
    for i, s in enumerate(states):
        for j in range(len(household.adults)):
            net[i] += own[j] if j in s else survivor[j]
        net[i] -= charges
        net[i, horizon] = 0.0
        need = household.goals.essential_fraction * target[:horizon]
        if len(s) < len(household.adults):
            need = need * household.survivor_spending_fraction
        floor[i] = np.where(retired, need, 0.0)
    return StateFlows(net, floor)


def _target(household: Household, hh_age: IntArray, live: BoolArray) -> FloatArray:
    """The spending target in force by year (as ``cashflows``: phases by household age)."""
    target = np.full(hh_age.shape, household.goals.retirement_spending, dtype=np.float64)
    for phase in sorted(household.spending_phases, key=lambda p: p.start_age):
        target[hh_age >= phase.start_age] = phase.annual_spending
    return np.where(live, target, 0.0)


def fixed_state_path(household: Household) -> IntArray:
    """FIXED_HORIZON: the life state of each year (deaths are certain), by index."""
    states = life_states(household)
    horizon = household.horizon_years
    out = np.zeros(horizon, dtype=np.int64)
    for t in range(horizon):
        alive = tuple(
            j for j, a in enumerate(household.adults) if t < a.life_expectancy - a.current_age
        )
        out[t] = states.index(alive)
    return out


def state_of_paths(alive: BoolArray) -> IntArray:
    """Life-state index per path from ``alive`` (adults, n): -1 where nobody is alive.

    Single: 0 alive. Couple: 0 both, 1 only adult 0, 2 only adult 1.
    """
    if alive.shape[0] == 1:
        return np.where(alive[0], 0, -1).astype(np.int64)
    a0, a1 = alive[0], alive[1]
    return np.select([a0 & a1, a0, a1], [0, 1, 2], default=-1).astype(np.int64)


def consumption_scale(household: Household) -> float:
    """The engine's consumption scale (``cashflows``), the DP's unit."""
    return build_schedule(household).consumption_scale
