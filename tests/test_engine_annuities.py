"""Life annuities: prices against the survival curves, purchases moving wealth to income,
the baselines that buy them, and households without an offer unchanged."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest
from engine_support import Annuitising
from household_support import couple, example, retiree

from glidepath.engine import SimulationSettings, simulate
from glidepath.engine.cashflows import build_schedule
from glidepath.engine.lifetimes import draw_death_years
from glidepath.engine.market import BONDS, Scenarios
from glidepath.engine.mortality import survival_curve
from glidepath.engine.optimum import optimum_available
from glidepath.engine.state import Decision, YearOutcome, YearState
from glidepath.engine.step import initial_state, step
from glidepath.engine.strategies import (
    ANNUITY_STRATEGIES,
    STRATEGIES,
    Strategy,
    annuity_due_factor,
    make_strategy,
)
from glidepath.household.model import AnnuityOffer, Household, Lifetimes
from glidepath.rl.gate import other_strategies
from simulation_service.convert import default_strategies


def offered(household: Household, **fields: Any) -> Household:
    return replace(household, annuities=AnnuityOffer(**fields))


def bond_gross(household: Household) -> float:
    return float(build_schedule(household).market.expected_real_gross()[BONDS])


# --------------------------------------------------------------------------- prices


def test_a_single_adults_price_is_the_discounted_survival_curve() -> None:
    household = offered(retiree(), money_worth_ratio=0.9)
    schedule = build_schedule(household)
    assert schedule.lives is not None and schedule.annuities is not None
    curve = survival_curve(schedule.lives.tables[0], household.adults[0].current_age)
    v = 1.0 / bond_gross(household)
    for t in (0, 3, 20):
        alive = curve[t:] / curve[t]  # P(alive in year t + k | alive in year t)
        direct = float((alive * v ** np.arange(alive.size)).sum()) / 0.9
        assert schedule.annuities.price[1, t] == pytest.approx(direct, rel=1e-12)
    assert schedule.annuities.price[0].max() == 0.0  # nobody alive: nothing to buy


def test_a_joint_and_survivor_price_sums_over_both_survival_curves() -> None:
    household = offered(couple(), survivor_fraction=0.6, money_worth_ratio=0.85)
    schedule = build_schedule(household)
    assert schedule.lives is not None and schedule.annuities is not None
    ages = [a.current_age for a in household.adults]
    curves = [survival_curve(tb, a) for tb, a in zip(schedule.lives.tables, ages, strict=True)]
    length = max(c.size for c in curves)
    s1, s2 = (np.pad(c, (0, length - c.size)) for c in curves)
    both = s1 * s2
    one = s1 * (1 - s2) + s2 * (1 - s1)
    v = (1.0 / bond_gross(household)) ** np.arange(length)
    direct = float(((both + 0.6 * one) * v).sum()) / 0.85
    assert schedule.annuities.price[3, 0] == pytest.approx(direct, rel=1e-12)
    # Only the first adult alive in year 5: the survivor fraction of their own annuity.
    alive = s1[5:] / s1[5]
    lone = 0.6 * float((alive * v[: alive.size]).sum()) / 0.85
    assert schedule.annuities.price[1, 5] == pytest.approx(lone, rel=1e-12)


def test_the_money_worth_ratio_divides_the_price() -> None:
    fair = build_schedule(offered(couple(), money_worth_ratio=1.0)).annuities
    loaded = build_schedule(offered(couple(), money_worth_ratio=0.8)).annuities
    assert fair is not None and loaded is not None
    np.testing.assert_allclose(loaded.price * 0.8, fair.price, rtol=1e-14)
    assert loaded.price[3, 0] > fair.price[3, 0] > 0


def test_a_level_annuity_is_cheaper_than_an_indexed_one_when_prices_rise() -> None:
    indexed = build_schedule(offered(retiree())).annuities
    level = build_schedule(offered(retiree(), indexed_to_inflation=False)).annuities
    assert indexed is not None and level is not None
    assert retiree().market.inflation_mean > 0
    assert level.price[1, 0] < 0.9 * indexed.price[1, 0]
    deflationless = replace(retiree(), market=replace(retiree().market, inflation_mean=0.0))
    same = build_schedule(offered(deflationless, indexed_to_inflation=False)).annuities
    flat = build_schedule(offered(deflationless)).annuities
    assert same is not None and flat is not None
    assert same.price[1, 0] == pytest.approx(flat.price[1, 0], rel=1e-12)


def test_under_the_fixed_horizon_the_price_is_a_certain_annuity_to_the_life_expectancy() -> None:
    household = offered(replace(example(), lifetimes=Lifetimes.FIXED_HORIZON))
    market = build_schedule(household).annuities
    assert market is not None
    adult = household.adults[0]
    t = adult.retirement_age - adult.current_age
    years = adult.life_expectancy - adult.retirement_age
    direct = annuity_due_factor(bond_gross(household) - 1.0, years) / 0.9
    assert market.first_year == t
    assert market.price[1, t] == pytest.approx(direct, rel=1e-12)


# --------------------------------------------------------------------------- purchases


def lives(
    household: Household, strategy: Strategy, n: int = 600, seed: int = 5
) -> tuple[list[YearState], list[YearOutcome]]:
    """Every state and outcome of ``strategy`` on paths [0, n) of ``seed``."""
    schedule = build_schedule(household)
    deaths = None
    if schedule.lives is not None:
        deaths = draw_death_years(schedule.lives, seed, 0, n)
    scenarios = Scenarios(schedule.market, seed, 0, n)
    state = initial_state(schedule, n, death_year=deaths)
    states, outcomes = [state], []
    for t in range(schedule.horizon):
        state, out = step(state, strategy.decide(state), scenarios.year(t))
        states.append(state)
        outcomes.append(out)
    return states, outcomes


@pytest.mark.parametrize("indexed", [True, False], ids=["indexed", "level"])
def test_a_purchase_moves_wealth_to_income_paid_while_the_annuitants_live(indexed: bool) -> None:
    household = offered(couple(), from_age=58, survivor_fraction=0.6, indexed_to_inflation=indexed)
    market = build_schedule(household).annuities
    assert market is not None
    merton = make_strategy("merton", household)
    base_states, base_out = lives(household, merton)
    states, out = lives(household, Annuitising(merton, 0.4))
    wealth = base_states[0].wealth
    amount = 0.4 * wealth
    units = amount / market.price[3, 0]  # both alive in year 0: the joint price
    np.testing.assert_array_equal(out[0].annuitised, amount)
    np.testing.assert_allclose(out[0].wealth_start, wealth - amount, rtol=1e-15)
    np.testing.assert_allclose(out[0].disposable - base_out[0].disposable, units, rtol=1e-12)
    seen = set()
    for t in range(1, len(states) - 1):
        code = states[t].life_code
        assert code is not None
        factor = np.select([code == 3, code > 0], [1.0, 0.6], 0.0)
        paid = units if indexed else units / states[t].price_index  # fixed nominal money
        extra = states[t].income - base_states[t].income
        np.testing.assert_allclose(extra, factor * paid, rtol=1e-9, atol=1e-9)
        seen |= set(np.unique(code).tolist())
    assert seen == {0, 1, 2, 3}  # both alive, each survivor alone, nobody: all checked


def test_no_purchase_before_the_offers_age() -> None:
    household = offered(example())  # purchases from the retirement age, 65; the adult is 40
    merton = make_strategy("merton", household)
    base_states, _ = lives(household, merton, n=200)
    states, out = lives(household, Annuitising(merton, 1.0), n=200)
    assert out[0].annuitised is not None and not out[0].annuitised.any()
    for a, b in zip(states, base_states, strict=True):
        np.testing.assert_array_equal(a.wealth, b.wealth)
        np.testing.assert_array_equal(a.income, b.income)


def test_later_purchases_add_up_and_a_fraction_is_clipped() -> None:
    household = offered(retiree())
    market = build_schedule(household).annuities
    assert market is not None

    @dataclass(frozen=True)
    class Twice:
        inner: Strategy
        name: str = "twice"

        def decide(self, state: YearState) -> Decision:
            d = self.inner.decide(state)
            fraction = {0: 0.2, 1: np.nan, 2: 1.7}.get(state.t)
            if fraction is None:
                return d
            return Decision(d.stock_share, d.consumption, np.full(state.n_paths, fraction))

    states, out = lives(household, Twice(make_strategy("merton", household)), n=300)
    assert states[3].annuity_real is not None and out[2].annuitised is not None
    assert out[1].annuitised is not None and not out[1].annuitised.any()  # NaN buys nothing
    first = 0.2 * states[0].wealth / market.price[1, 0]
    alive = states[2].life_code == 1
    second = np.where(alive, states[2].wealth / market.price[1, 2], 0.0)
    np.testing.assert_allclose(out[2].annuitised, np.where(alive, states[2].wealth, 0.0))
    np.testing.assert_allclose(out[2].wealth_start[alive], 0.0, atol=1e-6)
    np.testing.assert_allclose(states[3].annuity_real, first + second, rtol=1e-12)


# --------------------------------------------------------------------------- no offer


def figures(household: Household, names: list[Any]) -> list[tuple[Any, ...]]:
    result = simulate(household, names, SimulationSettings(paths=400, seed=3))
    return [
        (
            s.certainty_equivalent.value,
            s.success_probability.value,
            s.wealth.means,
            s.consumption.means,
            s.terminal.mean.value,
        )
        for s in result.strategies
    ]


def test_without_an_offer_an_annuitising_strategy_changes_nothing() -> None:
    household = couple()
    merton = make_strategy("merton", household)
    wants = Annuitising(merton, 0.5, year=7, name="wants")
    plain, trying = figures(household, [merton, wants])
    assert plain == trying


def test_an_offer_nobody_takes_changes_no_figure() -> None:
    names = ["own_plan", "merton", "floor_upside", "vpw"]
    for household in (couple(), replace(example(), lifetimes=Lifetimes.FIXED_HORIZON)):
        assert figures(offered(household), names) == figures(household, names)


# --------------------------------------------------------------------------- baselines


def test_annuitise_25_buys_a_quarter_at_retirement_and_differs_from_merton() -> None:
    household = offered(retiree())
    strategy = make_strategy("annuitise_25", household)
    states, out = lives(household, strategy, n=200)
    assert out[0].annuitised is not None
    np.testing.assert_allclose(out[0].annuitised, 0.25 * states[0].wealth)
    assert all(o.annuitised is None for o in out[1:])
    merton, quarter, half = figures(household, ["merton", "annuitise_25", "annuitise_50"])
    assert quarter[0] != merton[0] and half[0] != quarter[0]


def test_the_purchase_waits_for_a_later_from_age() -> None:
    household = offered(retiree(), from_age=70)
    _, out = lives(household, make_strategy("annuitise_50", household), n=100)
    assert all(o.annuitised is None for i, o in enumerate(out) if i != 5)
    assert out[5].annuitised is not None and out[5].annuitised.sum() > 0


def test_floor_annuity_secures_the_floor() -> None:
    base = retiree()
    household = offered(replace(base, goals=replace(base.goals, essential_fraction=0.8)))
    result = simulate(
        household,
        ["merton", "floor_upside", "floor_annuity"],
        SimulationSettings(paths=4000, seed=3),
    )
    below = {}
    for s in result.strategies:
        assert s.lifetimes is not None and s.lifetimes.below_floor_probability is not None
        below[s.name] = s.lifetimes.below_floor_probability.value
    assert below["floor_annuity"] == 0.0
    assert below["merton"] > 0.1 and below["floor_upside"] > 0.05
    # It bought the uncovered floor: 0.8 x 55,000 - the pension of 15,000 a year.
    market = build_schedule(household).annuities
    assert market is not None
    states, out = lives(household, make_strategy("floor_annuity", household), n=50)
    assert out[0].annuitised is not None
    np.testing.assert_allclose(out[0].annuitised, 29_000.0 * market.price[1, 0], rtol=1e-12)
    assert states[1].annuity_real is not None
    np.testing.assert_allclose(states[1].annuity_real, 29_000.0, rtol=1e-12)


def test_floor_annuity_without_a_floor_is_merton() -> None:
    household = offered(retiree())
    merton, floor = figures(household, ["merton", "floor_annuity"])
    assert merton == floor


# --------------------------------------------------------------------------- where offered


def test_the_annuity_baselines_are_offered_only_with_an_annuity_offer() -> None:
    for household in (retiree(), couple()):
        assert not set(ANNUITY_STRATEGIES) & set(default_strategies(household))
        assert not set(ANNUITY_STRATEGIES) & set(other_strategies(household))
        with_offer = offered(household)
        assert set(ANNUITY_STRATEGIES) <= set(default_strategies(with_offer))
        assert set(ANNUITY_STRATEGIES) <= set(other_strategies(with_offer))
        assert "optimum" not in default_strategies(with_offer)
        assert "optimum" not in other_strategies(with_offer)
    assert set(ANNUITY_STRATEGIES) <= set(STRATEGIES)


def test_the_optimum_with_an_offer_is_the_purchase_once_dp_where_one_purchase_is_allowed() -> None:
    assert optimum_available(retiree()) == (True, "")
    ok, reason = optimum_available(offered(retiree()))
    assert not ok and "dp_simplified, a lower bound" in reason
    once = offered(retiree(), only_at_from_age=True)
    assert optimum_available(once) == (True, "")
    # Under the fixed horizon too: the purchase is replayed and changes the result.
    result = simulate(once, ["merton", "optimum"], SimulationSettings(paths=1_000, seed=2))
    merton, optimum = result.strategies
    assert optimum.annuities is not None and optimum.annuities.probability.value > 0.0
    assert optimum.certainty_equivalent.value > merton.certainty_equivalent.value


def test_the_metrics_report_what_each_strategy_annuitised() -> None:
    household = offered(retiree())
    result = simulate(
        household, ["merton", "annuitise_50"], SimulationSettings(paths=2_000, seed=4)
    )
    merton, half = result.strategies
    assert merton.annuities is not None and half.annuities is not None
    assert merton.annuities.premium.value == 0.0 and merton.annuities.probability.value == 0.0
    wealth = build_schedule(household).initial_wealth  # retired now: bought in year 0
    assert half.annuities.premium.value == pytest.approx(0.5 * wealth, rel=1e-9)
    assert half.annuities.probability.value == 1.0
    plain = simulate(retiree(), ["merton"], SimulationSettings(paths=1_024, seed=4))
    assert plain.strategies[0].annuities is None  # no offer: nothing to report
