"""The objective shared by the metrics, the DP and the RL reward."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from engine_support import example_household

from glidepath.engine import Objective, SimulationSettings, simulate
from glidepath.engine.objective import FLOOR_FRACTION, crra, crra_inverse
from glidepath.household.model import Account, Adult, Charge, Goals, Household, Income


@pytest.mark.parametrize("gamma", [0.5, 1.0, 3.0, 4.5])
def test_ce_of_a_certain_life_is_its_consumption(gamma: float) -> None:
    objective = Objective(horizon=30, scale=40_000.0, capital_goal=200_000.0, gamma=gamma)
    c = 35_000.0
    consumption = np.full((30, 1), c)
    terminal = np.array([c / 40_000.0 * 200_000.0])  # the goal scaled like consumption
    u = objective.lifetime_utility(consumption, terminal)
    assert objective.certainty_equivalent(float(u[0])) == pytest.approx(c, rel=1e-12)
    no_goal = replace(objective, capital_goal=0.0)
    u0 = no_goal.lifetime_utility(consumption, np.zeros(1))
    assert no_goal.certainty_equivalent(float(u0[0])) == pytest.approx(c, rel=1e-12)


def test_goal_term_is_worth_a_unit_of_consumption_at_the_goal() -> None:
    """At W_T = G, a unit of terminal wealth is worth a unit of consumption at the target."""
    objective = Objective(horizon=30, scale=40_000.0, capital_goal=200_000.0, gamma=3.0)
    h = 1e-3
    d_goal = (
        objective.terminal_utility(np.array([200_000.0 + h]))
        - objective.terminal_utility(np.array([200_000.0 - h]))
    ) / (2 * h)
    d_cons = (
        objective.year_utility(np.array([40_000.0 + h]))
        - objective.year_utility(np.array([40_000.0 - h]))
    ) / (2 * h)
    assert d_goal[0] == pytest.approx(d_cons[0], rel=1e-6)


def test_floors_keep_ruin_finite() -> None:
    objective = Objective(horizon=10, scale=10_000.0, capital_goal=50_000.0, gamma=3.0)
    u = objective.year_utility(np.array([0.0, 1.0, 500.0]))
    assert np.all(u == crra(np.array(FLOOR_FRACTION), 3.0))
    assert np.isfinite(objective.terminal_utility(np.array([0.0]))).all()


def test_crra_inverse_round_trips() -> None:
    for gamma in (0.5, 1.0, 2.0, 3.0, 7.0):
        for x in (0.05, 0.7, 1.0, 3.0):
            assert crra_inverse(float(crra(np.array(x), gamma)), gamma) == pytest.approx(x)


def test_ce_standard_error_is_the_delta_method() -> None:
    objective = Objective(horizon=40, scale=30_000.0, capital_goal=100_000.0, gamma=3.0)
    mean_u = -30.0
    ce = objective.certainty_equivalent(mean_u)
    slope = (
        objective.certainty_equivalent(mean_u + 1e-6)
        - objective.certainty_equivalent(mean_u - 1e-6)
    ) / 2e-6
    assert objective.ce_standard_error(ce, 0.5) == pytest.approx(0.5 * slope, rel=1e-5)


def scaled(h: Household, k: float) -> Household:
    return replace(
        h,
        adults=tuple(replace(a, net_income=a.net_income * k) for a in h.adults),
        incomes=tuple(replace(i, amount=i.amount * k) for i in h.incomes),
        charges=tuple(replace(c, amount=c.amount * k) for c in h.charges),
        accounts=tuple(
            replace(a, balance=a.balance * k, monthly_contribution=a.monthly_contribution * k)
            for a in h.accounts
        ),
        goals=Goals(h.goals.capital_goal * k, h.goals.retirement_spending * k),
    )


def test_money_scaled_by_k_scales_the_ce_by_k() -> None:
    h = example_household()
    names = ["own_plan", "merton", "vpw"]
    base = simulate(h, names, SimulationSettings(paths=2048, seed=8))
    big = simulate(scaled(h, 10.0), names, SimulationSettings(paths=2048, seed=8))
    for name in names:
        a = base.by_name(name).certainty_equivalent.value
        b = big.by_name(name).certainty_equivalent.value
        assert b == pytest.approx(10.0 * a, rel=1e-9)


def test_ce_exists_for_a_household_far_above_its_goal() -> None:
    rich = Household(
        adults=(Adult(60, 60, 95),),
        incomes=(Income(20_000.0, 60),),
        charges=(Charge(5_000.0, 70),),
        accounts=(Account(10_000_000.0, 0.0, 0.6, 0.2, 0.2),),
        goals=Goals(capital_goal=1_000_000.0, retirement_spending=40_000.0),
    )
    result = simulate(rich, ["merton", "own_plan"], SimulationSettings(paths=1024))
    for s in result.strategies:
        assert math.isfinite(s.certainty_equivalent.value) and s.certainty_equivalent.value > 0
