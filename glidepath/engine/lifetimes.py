"""Who is alive on each path, and what each state of the household pays and needs.

Under ``Lifetimes.MORTALITY`` every path draws each adult's age at death
(:func:`glidepath.engine.mortality.draw_death_ages`: its own seeded streams, the same for
every strategy of a request, independent of the market). The timing of a life: an adult
alive at the start of the year in which they are aged a lives that whole year (its flows
happen) and dies at its end when their drawn death age is a. Year t of the plan is lived
when at least one adult is alive at its start.

The state of a path in year t is who is alive: a mask per adult (``YearState.alive``,
shape (adults, n)) and a code, a bit per adult (``YearState.life_code``: 1 the first
adult alive, 2 the second, 3 both, 0 nobody). The flows of each code are precomputed
(:class:`StatusFlows`, arrays of shape (4, T + 1)), so a year of n paths gathers them in
one indexing operation, with no per-path Python. When exactly one adult of a couple is
alive: the dead adult's earned income stops; an income whose adult is the dead one pays
``survivor_fraction`` x its amount; the living adult's incomes are unchanged; the
spending target (and with it the floor) is multiplied by ``survivor_spending_fraction``;
charges continue. Code 0: the path is over (no flows; its wealth is the bequest).

Human capital by code is the survival-weighted present value of the later net incomes:
each later year's income of each code, times the probability of being in that code then
given the code now (``transitions``: the adults die independently). A pension "for life"
is worth what it is expected to pay, not what it would pay if nobody ever died, so the
strategies that read it (the Merton-style rule, the RL policy) neither overspend on
incomes the household will likely not live to receive nor ignore a survivor's pension.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from glidepath.household.model import Adult, Household, IncomeKind, Lifetimes

from . import mortality
from .regimes import expected_inflation

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Codes: a bit per adult.
CODES = 4


@dataclass(frozen=True)
class StatusFlows:
    """Each code's flows by year: arrays of shape (CODES, T + 1), real unless nominal."""

    salary: FloatArray
    pension_real: FloatArray
    pension_nominal: FloatArray
    other_real: FloatArray
    other_nominal: FloatArray
    charges_real: FloatArray
    charges_nominal: FloatArray
    spending_target: FloatArray
    hc_real: FloatArray
    hc_nominal: FloatArray
    has_nominal: bool


@dataclass(frozen=True)
class Lives:
    """The household's life tables (one per adult, from their current age) and flows."""

    tables: tuple[mortality.LifeTable, ...]
    current_ages: tuple[int, ...]
    flows: StatusFlows
    expected_years: float  # E[D]: expected years lived by the household (someone alive)
    # P(code c' at t + 1 | code c at t): shape (T, CODES, CODES); code 0 is absorbing.
    transitions: FloatArray
    # E[years lived from t on | code c at t] (year t included): shape (CODES, T + 1).
    years_left: FloatArray

    @property
    def full_code(self) -> int:
        return (1 << len(self.tables)) - 1


def life_table(adult: Adult, index: int = 0) -> mortality.LifeTable:
    """The adult's table from their current age: explicit, or the calibrated default law
    (an unreachable life expectancy named as ``household.adults[index].life_expectancy``)."""
    if adult.mortality_table is not None:
        t = adult.mortality_table
        q = np.asarray(t.q, dtype=np.float64)[adult.current_age - t.first_age :]
        return mortality.LifeTable(adult.current_age, q)
    return mortality.table_for_life_expectancy(
        adult.current_age,
        adult.life_expectancy,
        field=f"household.adults[{index}].life_expectancy",
    )


def expected_years_lived(tables: Sequence[mortality.LifeTable], ages: Sequence[int]) -> float:
    """E[D] = sum_t P(someone alive at the start of year t); the adults independent."""
    curves = [mortality.survival_curve(tb, a) for tb, a in zip(tables, ages, strict=True)]
    length = max(c.size for c in curves)
    nobody = np.ones(length)
    for c in curves:
        padded = np.zeros(length)
        padded[: c.size] = c
        nobody *= 1.0 - padded
    return float((1.0 - nobody).sum())


def alive_in_year(death_year: IntArray, t: int) -> tuple[NDArray[np.bool_], IntArray]:
    """Who is alive in year t: the mask (adults, n) and each path's code (n,)."""
    alive = death_year >= t
    code = alive[0].astype(np.int64)
    if alive.shape[0] == 2:
        code |= alive[1].astype(np.int64) << 1
    return alive, code


def code_transitions(
    tables: Sequence[mortality.LifeTable], ages: Sequence[int], horizon: int
) -> FloatArray:
    """P(code c' at the start of year t + 1 | code c at t), shape (horizon, CODES, CODES).

    Each adult alive in year t survives it with 1 - q at their age that year (0 past
    their table), the adults independently; a dead adult stays dead, and code 0 (nobody)
    stays 0.
    """
    p = np.zeros((len(tables), horizon))
    for j, (tb, age) in enumerate(zip(tables, ages, strict=True)):
        q = tb.q_from(age)
        k = min(q.size, horizon)
        p[j, :k] = 1.0 - q[:k]
    return survival_transitions(p)


def survival_transitions(p: FloatArray) -> FloatArray:
    """Code transitions, shape (T, CODES, CODES), from p[j, t]: P(adult j alive in year
    t + 1 | alive in year t), shape (adults, T); the adults independent."""
    adults, horizon = p.shape
    out = np.zeros((horizon, CODES, CODES))
    out[:, 0, 0] = 1.0
    for code in range(1, 1 << adults):
        for nxt in range(CODES):
            if nxt & ~code:
                continue  # nobody comes back to life
            prob = np.ones(horizon)
            for j in range(adults):
                if code >> j & 1:
                    prob = prob * (p[j] if nxt >> j & 1 else 1.0 - p[j])
            out[:, code, nxt] = prob
    return out


def survival_weighted_pv(net: FloatArray, transitions: FloatArray, gross: float) -> FloatArray:
    """H[c, t] = E[sum_{k > t} net[code_k, k] / gross^(k - t) | code c at t], (CODES, T + 1).

    ``net`` has shape (CODES, T + 1) (entry T zero), ``transitions`` (T, CODES, CODES).
    """
    horizon = transitions.shape[0]
    pv = np.zeros_like(net)
    for t in range(horizon - 1, -1, -1):  # once per household, over codes, not paths
        pv[:, t] = transitions[t] @ (net[:, t + 1] + pv[:, t + 1]) / gross
    return pv


def expected_years_left(transitions: FloatArray) -> FloatArray:
    """E[years lived from t on | code c at t], year t included: shape (CODES, T + 1)."""
    horizon = transitions.shape[0]
    out = np.zeros((CODES, horizon + 1))
    for t in range(horizon - 1, -1, -1):
        out[:, t] = 1.0 + transitions[t] @ out[:, t + 1]
    out[0] = 0.0
    return out


def draw_death_years(lives: Lives, seed: int, start: int, n_paths: int) -> IntArray:
    """Each adult's last plan year lived on paths [start, start + n): shape (adults, n)."""
    ages = mortality.draw_death_ages(
        list(zip(lives.tables, lives.current_ages, strict=True)), seed, start, n_paths
    )
    return np.asarray(ages - np.asarray(lives.current_ages)[:, None], dtype=np.int64)


def build_lives(
    household: Household,
    adult_ages: IntArray,
    live: NDArray[np.bool_],
    hh_age: IntArray,
    discount: float,
) -> Lives | None:
    """The household's ``Lives`` under MORTALITY; None under FIXED_HORIZON."""
    if household.lifetimes is not Lifetimes.MORTALITY:
        return None
    n = live.shape[0]
    t = np.arange(n)
    adults = household.adults
    # Per adult: salary, full incomes and survivor incomes by (kind, nominal).
    salary = np.zeros((len(adults), n))
    full = np.zeros((len(adults), 2, 2, n))
    survivor = np.zeros((len(adults), 2, 2, n))
    for j, a in enumerate(adults):
        working = (adult_ages[j] < a.retirement_age) & live
        salary[j] = np.where(working, a.net_income * (1.0 + a.income_growth) ** t, 0.0)
    for inc in household.incomes:
        ages = adult_ages[inc.adult]
        active = (ages >= inc.start_age) & live
        if inc.end_age is not None:
            active &= ages < inc.end_age
        amount = np.where(active, inc.amount * (1.0 + inc.growth) ** t, 0.0)
        kind = 0 if inc.kind is IncomeKind.PENSION else 1
        nominal = 0 if inc.indexed_to_inflation else 1
        full[inc.adult, kind, nominal] += amount
        survivor[inc.adult, kind, nominal] += inc.survivor_fraction * amount
    charges = np.zeros((2, n))
    for ch in household.charges:
        active = live.copy()
        if ch.start_age is not None:
            active &= hh_age >= ch.start_age
        if ch.end_age is not None:
            active &= hh_age < ch.end_age
        charges[0 if ch.indexed_to_inflation else 1, active] += ch.amount
    target = np.full(n, household.goals.retirement_spending, dtype=np.float64)
    for phase in sorted(household.spending_phases, key=lambda p: p.start_age):
        target[hh_age >= phase.start_age] = phase.annual_spending
    target[~live] = 0.0

    shape = (CODES, n)
    out = {k: np.zeros(shape) for k in ("salary", "target", "cr", "cn")}
    incomes = np.zeros((CODES, 2, 2, n))
    for code in range(1, 1 << len(adults)):
        alive = [bool(code >> j & 1) for j in range(len(adults))]
        for j in range(len(adults)):
            if alive[j]:
                out["salary"][code] += salary[j]
                incomes[code] += full[j]
            else:
                incomes[code] += survivor[j]
        out["cr"][code], out["cn"][code] = charges[0], charges[1]
        lone = len(adults) == 2 and sum(alive) == 1
        out["target"][code] = target * (household.survivor_spending_fraction if lone else 1.0)
    real_net = out["salary"] + incomes[:, 0, 0] + incomes[:, 1, 0] - out["cr"]
    nominal_net = incomes[:, 0, 1] + incomes[:, 1, 1] - out["cn"]
    tables = tuple(life_table(a, j) for j, a in enumerate(adults))
    ages = tuple(a.current_age for a in adults)
    moves = code_transitions(tables, ages, n - 1)
    infl = 1.0 + expected_inflation(household.market)
    flows = StatusFlows(
        salary=out["salary"],
        pension_real=incomes[:, 0, 0],
        pension_nominal=incomes[:, 0, 1],
        other_real=incomes[:, 1, 0],
        other_nominal=incomes[:, 1, 1],
        charges_real=out["cr"],
        charges_nominal=out["cn"],
        spending_target=out["target"],
        hc_real=survival_weighted_pv(real_net, moves, discount),
        hc_nominal=survival_weighted_pv(nominal_net, moves, discount * infl),
        has_nominal=bool(np.any(nominal_net != 0.0)),
    )
    return Lives(
        tables,
        ages,
        flows,
        expected_years_lived(tables, ages),
        transitions=moves,
        years_left=expected_years_left(moves),
    )
