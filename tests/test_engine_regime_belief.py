"""What a household sees of the regime: the Hamilton filter's belief when the regime is
hidden (a probability, the stationary law without information, calibrated, moved by a
crash), the true regime when it is observable, and nothing without regimes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from engine_support import example_household

from glidepath.engine.cashflows import build_schedule
from glidepath.engine.market import MarketModel, Scenarios, YearReturns
from glidepath.engine.regime_belief import BoolArray, next_belief, posterior, prior
from glidepath.engine.state import FlowTiming, YearState
from glidepath.engine.step import initial_state, step
from glidepath.engine.strategies import make_strategy
from glidepath.household.convert import household_from_json
from glidepath.household.model import Household, RegimeSwitching, ReturnModel

REGIMES = RegimeSwitching(calm_to_turbulent=0.2, turbulent_to_calm=0.4)


def with_regimes(h: Household, regimes: RegimeSwitching = REGIMES) -> Household:
    market = replace(h.market, return_model=ReturnModel.REGIME_SWITCHING, regimes=regimes)
    return replace(h, market=market)


def lived_years(
    household: Household, n: int, seed: int = 3
) -> tuple[list[YearState], list[BoolArray]]:
    """Every year's state under VPW, and each year's true regime (True = turbulent)."""
    schedule = build_schedule(household)
    scenarios = Scenarios(schedule.market, seed, 0, n)
    state = initial_state(schedule, n, turbulent=scenarios.first_turbulent)
    strategy = make_strategy("vpw", household)
    states, truth = [], []
    while not state.done:
        returns = scenarios.year(state.t)
        states.append(state)
        if scenarios.turbulent is not None:
            truth.append(scenarios.turbulent.copy())
        state, _ = step(state, strategy.decide(state), returns)
    return states, truth


def test_the_hidden_regimes_belief_is_a_probability_and_starts_at_the_stationary_law() -> None:
    states, _ = lived_years(with_regimes(example_household()), 2048)
    pi = REGIMES.stationary_turbulent()
    first = states[0].regime_belief
    assert first is not None and np.all(first == pi)
    beliefs = np.stack([s.regime_belief for s in states if s.regime_belief is not None])
    assert beliefs.shape[0] == len(states)
    # strictly inside (0, 1): a hidden regime is never known for certain
    assert beliefs.min() > 0.0 and beliefs.max() < 1.0
    assert beliefs[1:].std() > 0.1  # it does move with the returns


def test_the_filter_is_calibrated_turbulent_years_are_as_frequent_as_believed() -> None:
    states, truth = lived_years(with_regimes(example_household()), 4096)
    belief = np.concatenate([s.regime_belief for s in states[1:] if s.regime_belief is not None])
    turbulent = np.concatenate(truth[1:]).astype(np.float64)
    # a prediction lies in [p, 1 - q] = [0.2, 0.6]
    assert belief.min() >= 0.2 - 1e-12 and belief.max() <= 0.6 + 1e-12
    for low, high in ((0.0, 0.3), (0.3, 0.45), (0.45, 1.0)):
        rows = (belief >= low) & (belief < high)
        assert rows.sum() > 2000
        assert abs(turbulent[rows].mean() - belief[rows].mean()) < 0.03, (low, high)
    # and informative: the believed-turbulent years are mostly turbulent
    assert turbulent[belief >= 0.45].mean() > 2 * turbulent[belief < 0.3].mean()


def test_with_identical_regimes_the_returns_say_nothing_and_the_belief_stays_stationary() -> None:
    h = example_household()
    same = with_regimes(h, replace(REGIMES, turbulent=h.market.calm_regime()))
    states, _ = lived_years(same, 1024)
    pi = REGIMES.stationary_turbulent()
    for s in states:
        assert s.regime_belief is not None
        np.testing.assert_allclose(s.regime_belief, pi, rtol=0, atol=1e-12)


def one_year(stocks: float, inflation: float = 1.025) -> YearReturns:
    gross = np.array([stocks])
    return YearReturns(gross, np.array([1.015]), None, np.array([1.015]), np.array([inflation]))


def test_a_crash_year_raises_the_belief_and_a_quiet_good_year_lowers_it() -> None:
    model = MarketModel(with_regimes(example_household()).market)
    pi = prior(REGIMES, 1)
    crash = next_belief(model, pi, one_year(0.6))
    calm = next_belief(model, pi, one_year(1.06))
    assert crash[0] > pi[0] + 0.2
    assert calm[0] < pi[0]
    # the year's posterior: a crash was almost surely turbulent
    assert posterior(model, pi, one_year(0.6))[0] > 0.8
    # from a posterior of 1 the prediction is the chain's persistence, 1 - q
    np.testing.assert_allclose(
        next_belief(model, np.array([1.0]), one_year(0.6)), 1 - REGIMES.turbulent_to_calm
    )


def test_an_observable_regime_is_the_true_regime_every_year() -> None:
    household = with_regimes(example_household(), replace(REGIMES, observable=True))
    states, truth = lived_years(household, 1024)
    for s, turbulent in zip(states, truth, strict=True):
        assert s.regime_belief is not None
        assert np.array_equal(s.regime_belief, turbulent.astype(np.float64))


def test_an_observable_regime_needs_the_first_regime() -> None:
    household = with_regimes(example_household(), replace(REGIMES, observable=True))
    with pytest.raises(ValueError, match="first regime"):
        initial_state(household, 4)


def test_without_regimes_there_is_no_belief() -> None:
    states, truth = lived_years(example_household(), 16)
    assert all(s.regime_belief is None for s in states) and not truth


def test_the_default_is_hidden_and_the_file_can_make_it_observable() -> None:
    assert RegimeSwitching().observable is False
    text = (
        '{"lifetimes": "LIFETIMES_FIXED_HORIZON",'
        '"adults": [{"currentAge": 66, "retirementAge": 66, "lifeExpectancy": 90}],'
        '"accounts": [{"balance": 500000, "stockShare": 0.6, "bondShare": 0.4}],'
        '"goals": {"retirementSpending": 40000},'
        '"market": {"returnModel": "RETURN_MODEL_REGIME_SWITCHING", "regimes": %s}}'
    )
    hidden = household_from_json(text % "{}")
    seen = household_from_json(text % '{"observable": true}')
    assert hidden.market.switching is not None and not hidden.market.switching.observable
    assert seen.market.switching is not None and seen.market.switching.observable
    timing = FlowTiming.START_OF_YEAR
    belief = initial_state(hidden, 2, timing=timing).regime_belief
    assert belief is not None and np.all(belief == RegimeSwitching().stationary_turbulent())
    first = np.array([True, False])
    seen_belief = initial_state(seen, 2, timing=timing, turbulent=first).regime_belief
    assert seen_belief is not None and list(seen_belief) == [1.0, 0.0]
