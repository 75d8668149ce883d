"""Rules under mortality weigh the future by survival: the Merton-style factor (Yaari's
version of Samuelson's) and human capital are expectations over who will be alive."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from engine_support import example_household, retiree

from glidepath.engine import SimulationSettings, mortality, simulate
from glidepath.engine.cashflows import build_schedule
from glidepath.engine.lifetimes import code_transitions
from glidepath.engine.optimum import solve
from glidepath.engine.state import FlowTiming
from glidepath.engine.step import initial_state
from glidepath.engine.strategies import MertonRule
from glidepath.household.model import Household, Income, Lifetimes, MortalityTable


def _constant_hazard(h: Household, hazard: float) -> Household:
    """``h`` under mortality with a constant yearly death probability to its life
    expectancy (the last year's q is 1)."""
    adults = []
    for adult in h.adults:
        table = mortality.constant_hazard_table(
            hazard, adult.current_age, adult.life_expectancy - 1
        )
        q = tuple(float(x) for x in table.q)
        adults.append(replace(adult, mortality_table=MortalityTable(table.first_age, q)))
    return replace(h, adults=tuple(adults), lifetimes=Lifetimes.MORTALITY)


def test_code_transitions_are_probabilities_of_independent_deaths() -> None:
    q = 0.1
    a = mortality.constant_hazard_table(q, 60, 70)
    b = mortality.constant_hazard_table(2 * q, 58, 70)
    moves = code_transitions([a, b], [60, 58], 10)
    np.testing.assert_allclose(moves.sum(axis=2), 1.0)
    both = moves[0, 3]
    np.testing.assert_allclose(both, [q * 2 * q, (1 - q) * 2 * q, q * (1 - 2 * q), 0.9 * 0.8])
    assert moves[0, 1, 2] == moves[0, 2, 1] == 0.0  # nobody comes back to life
    assert moves[0, 0, 0] == 1.0  # over stays over


@pytest.mark.parametrize("goal", [0.0, 300_000.0])
def test_the_merton_factor_under_a_constant_hazard_is_samuelsons_with_b_discounted(
    goal: float,
) -> None:
    """f_t = 1 + b [(1 - q) f_{t+1}^gamma + q g^gamma]^(1/gamma), q = 1 in the last year
    (with no goal: Samuelson's factor with b (1 - q)^(1/gamma))."""
    hazard, years, gamma = 0.05, 30, 3.0
    fixed = retiree(1_000_000.0, years, gamma, goal=goal)
    dying = _constant_hazard(fixed, hazard)
    rule = MertonRule.for_schedule(build_schedule(dying))
    assert rule.log_factors is not None
    g = rule.goal_weight
    expected = g
    for t in range(years - 1, -1, -1):
        mixed = (1 - hazard) * expected**gamma + hazard * g**gamma
        if t == years - 1:
            mixed = g**gamma  # q = 1 in the last year
        expected = 1 + math.exp(rule.log_b) * mixed ** (1 / gamma)
        assert math.exp(rule.log_factors[1, t]) == pytest.approx(expected, rel=1e-12)


def test_the_merton_rule_under_a_constant_hazard_consumes_what_the_optimum_does() -> None:
    """No income: the survival-weighted rule is the exact optimum (Yaari), as the plain
    rule is Samuelson's without deaths; the DP agrees to its grid's accuracy."""
    hazard, years = 0.04, 30
    dying = _constant_hazard(retiree(1_000_000.0, years, 3.0), hazard)
    schedule = build_schedule(dying)
    rule = MertonRule.for_schedule(schedule)
    optimum = solve(dying)
    x = np.array([2e5, 1e6, 2.5e6])
    deaths = np.full((1, x.size), years - 1, dtype=np.int64)
    state = initial_state(schedule, x.size, timing=FlowTiming.START_OF_YEAR, death_year=deaths)
    state = replace(state, wealth=x)
    c_rule = rule.decide(state).consumption
    c_dp, _ = optimum.policy(0, x, np.zeros(x.size, dtype=np.int64))
    np.testing.assert_allclose(c_rule, c_dp, rtol=2e-3)
    # The check can fail: planning to the table's end without survival consumes less.
    plain = replace(rule, log_factors=None)
    assert np.all(plain.decide(state).consumption < 0.95 * c_rule)


def test_human_capital_is_the_survival_weighted_value_of_a_pension() -> None:
    hazard, years = 0.05, 20
    pension = 20_000.0
    base = replace(retiree(500_000.0, years, 3.0), incomes=(Income(amount=pension, start_age=65),))
    schedule = build_schedule(_constant_hazard(base, hazard))
    assert schedule.lives is not None
    gross = schedule.discount_gross
    # Year 0's pension is this year's income; years 1 .. T-1 are paid if still alive.
    expected = sum(((1 - hazard) / gross) ** k * pension for k in range(1, years))
    assert schedule.lives.flows.hc_real[1, 0] == pytest.approx(expected, rel=1e-9)
    fixed = build_schedule(base)
    assert fixed.hc_real[0] > 1.3 * expected  # as if certain to live every year


def test_survival_weighting_improves_the_merton_rule_under_mortality() -> None:
    """On the example household under mortality the survival-weighted rule beats the
    rule that plans to age 110, by far more than the paired standard error."""
    household = replace(example_household(), lifetimes=Lifetimes.MORTALITY)
    rule = MertonRule.for_schedule(build_schedule(household))
    to_110 = replace(rule, log_factors=None, name="merton_to_110")
    result = simulate(household, [rule, to_110], SimulationSettings(paths=4_000, seed=2))
    weighted, planned = result.strategies
    gap = weighted.certainty_equivalent.value - planned.certainty_equivalent.value
    paired = next(p for p in result.paired if p.strategy == "merton_to_110")
    assert gap > 4 * paired.difference.standard_error > 0
