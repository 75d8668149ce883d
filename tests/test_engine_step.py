"""The yearly step against independent arithmetic: zero volatility to the cent, cuts, purity."""

from __future__ import annotations

import numpy as np
import pytest

from glidepath.engine import FlowTiming, Scenarios, SimulationSettings, build_schedule, simulate
from glidepath.engine.state import Decision, YearState
from glidepath.engine.step import initial_state, monthly_factor, step
from glidepath.engine.strategies import OwnPlan
from glidepath.household.model import (
    Account,
    Adult,
    AssetClass,
    Charge,
    Goals,
    Household,
    Income,
    Lifetimes,
    MarketAssumptions,
)

# Zero volatility everywhere, inflation 2 % a year.
FLAT = MarketAssumptions(
    stocks=AssetClass(0.06, 0.0),
    bonds=AssetClass(0.03, 0.0),
    cash=AssetClass(0.02, 0.0),
    inflation_mean=0.02,
    inflation_volatility=0.0,
)


def flat_household() -> Household:
    """Saves 1,000 a month for 10 years, then draws on the portfolio with a pension."""
    return Household(
        lifetimes=Lifetimes.FIXED_HORIZON,
        adults=(Adult(50, 60, 80, 50_000.0, 0.0),),
        incomes=(Income(15_000.0, 60),),
        # Fixed in nominal terms: its real value erodes at 2 % a year.
        charges=(Charge(6_000.0, 55, indexed_to_inflation=False),),
        accounts=(Account(100_000.0, 1_000.0, 0.5, 0.3, 0.2),),
        goals=Goals(retirement_spending=30_000.0),
        market=FLAT,
    )


def expected_wealth_by_month(h: Household) -> list[float]:
    """Independent arithmetic: month by month, each month's flow paid at its start."""
    r = 0.5 * 1.06 + 0.3 * 1.03 + 0.2 * 1.02  # nominal gross of the 50/30/20 mix
    real_gross = r / 1.02
    monthly = real_gross ** (1.0 / 12.0)
    wealth = 100_000.0
    out = [wealth]
    for year in range(30):
        age = 50 + year
        if age < 60:
            flow = 12_000.0  # the plan's contributions
        else:
            charge = 0.0
            flow = 15_000.0 - charge - 30_000.0
        for _month in range(12):
            wealth = (wealth + flow / 12.0) * monthly
        out.append(wealth)
    return out


def run_paths(h: Household, n: int, timing: FlowTiming) -> list[YearState]:
    schedule = build_schedule(h)
    strategy = OwnPlan(schedule.stock_share)
    scenarios = Scenarios(schedule.market, 1, 0, n)
    state = initial_state(h, n, timing=timing)
    states = [state]
    while not state.done:
        state, _ = step(state, strategy.decide(state), scenarios.year(state.t))
        states.append(state)
    return states


def test_zero_volatility_matches_monthly_annuity_arithmetic_to_the_cent() -> None:
    h = flat_household()
    expected = expected_wealth_by_month(h)
    states = run_paths(h, 3, FlowTiming.MONTHLY)
    for t, state in enumerate(states):
        assert np.all(np.abs(state.wealth - expected[t]) < 0.005), (t, state.wealth, expected[t])


def test_zero_volatility_start_of_year_timing_is_cash_on_hand_arithmetic() -> None:
    h = flat_household()
    real_gross = (0.5 * 1.06 + 0.3 * 1.03 + 0.2 * 1.02) / 1.02
    wealth = 100_000.0
    states = run_paths(h, 2, FlowTiming.START_OF_YEAR)
    for t, state in enumerate(states[:-1]):
        assert np.all(np.abs(state.wealth - wealth) < 0.005)
        flow = 12_000.0 if t < 10 else 15_000.0 - 30_000.0
        wealth = (wealth + flow) * real_gross


def test_nominal_charge_is_deflated_and_before_retirement_only_contributions_are_saved() -> None:
    h = flat_household()
    states = run_paths(h, 2, FlowTiming.MONTHLY)
    for t in range(5):
        assert states[t].charges[0] == pytest.approx(6_000.0 / 1.02**t, rel=1e-12)
        assert states[t].price_index[0] == pytest.approx(1.02**t, rel=1e-12)
    assert states[5].charges[0] == 0.0
    assert states[10].income[0] == pytest.approx(15_000.0)


def test_simulated_means_by_age_equal_the_arithmetic() -> None:
    h = flat_household()
    expected = expected_wealth_by_month(h)
    result = simulate(h, ["own_plan"], SimulationSettings(paths=50, seed=3))
    means = result.by_name("own_plan").wealth.means
    assert np.allclose(means, expected, rtol=0, atol=0.01)
    bands = result.by_name("own_plan").wealth
    for row in bands.values:  # every percentile is the one path, within the 0.2 % bins
        assert np.allclose(row, expected, rtol=2e-3)


def test_monthly_factor_is_the_sum_of_monthly_compounding() -> None:
    gross = np.array([0.5, 0.97, 1.0, 1.0 + 1e-9, 1.0 - 1e-8, 1.07, 1.6])
    direct = np.array([sum(r ** (j / 12.0) for j in range(1, 13)) / 12.0 for r in gross])
    assert np.allclose(monthly_factor(gross), direct, rtol=1e-12, atol=0)


def test_withdrawal_beyond_wealth_is_cut_and_recorded() -> None:
    h = Household(
        lifetimes=Lifetimes.FIXED_HORIZON,
        adults=(Adult(70, 70, 75),),
        accounts=(Account(10_000.0, 0.0, 0.0, 1.0, 0.0),),
        goals=Goals(retirement_spending=20_000.0),
        market=FLAT,
    )
    schedule = build_schedule(h)
    scenarios = Scenarios(schedule.market, 0, 0, 4)
    state = initial_state(h, 4)
    strategy = OwnPlan(0.0)
    returns = scenarios.year(0)
    nxt, out = step(state, strategy.decide(state), returns)
    gross = 1.03 / 1.02
    affordable = 10_000.0 * gross / monthly_factor(np.array([gross]))[0]
    assert np.allclose(out.consumption, affordable)
    assert np.allclose(out.cut, 20_000.0 - affordable)
    assert np.allclose(out.shortfall, 20_000.0 - affordable)
    assert np.all(nxt.wealth == 0.0) and np.all(nxt.ruined)
    nxt2, out2 = step(nxt, strategy.decide(nxt), scenarios.year(1))
    assert np.all(out2.consumption == 0.0) and np.allclose(out2.shortfall, 20_000.0)
    assert np.all(nxt2.wealth == 0.0)


def test_step_is_pure() -> None:
    h = flat_household()
    state = initial_state(h, 5)
    before = {k: np.copy(v) for k, v in vars(state).items() if isinstance(v, np.ndarray)}
    decision = Decision(np.full(5, 0.7), np.full(5, 20_000.0))
    shares, cons = decision.stock_share.copy(), decision.consumption.copy()
    returns = Scenarios(build_schedule(h).market, 0, 0, 5).year(0)
    stocks = returns.stocks.copy()
    nxt, _ = step(state, decision, returns)
    for k, v in before.items():
        assert np.array_equal(getattr(state, k), v, equal_nan=True), k
    assert np.array_equal(decision.stock_share, shares)
    assert np.array_equal(decision.consumption, cons)
    assert np.array_equal(returns.stocks, stocks)
    assert nxt.t == 1 and state.t == 0


def test_stepping_past_the_end_is_refused() -> None:
    h = Household(adults=(Adult(80, 80, 81),), market=FLAT, lifetimes=Lifetimes.FIXED_HORIZON)
    state = initial_state(h, 1)
    state, _ = step(
        state,
        Decision(np.zeros(1), np.zeros(1)),
        Scenarios(build_schedule(h).market, 0, 0, 1).year(0),
    )
    assert state.done
    with pytest.raises(ValueError):
        step(
            state,
            Decision(np.zeros(1), np.zeros(1)),
            Scenarios(build_schedule(h).market, 0, 0, 1).year(0),
        )
