"""Strategies: the rules' arithmetic, and the engine's own CE optimum of a constant mix."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest
from engine_support import example_household, retiree

from glidepath.engine import FlowTiming, SimulationSettings, build_schedule, simulate
from glidepath.engine.state import Decision, YearState
from glidepath.engine.step import initial_state
from glidepath.engine.strategies import (
    STRATEGIES,
    FourPercentRule,
    GlidePath,
    Guardrails,
    MertonRule,
    Strategy,
    VariablePercentageWithdrawal,
    annuity_due_factor,
    make_strategy,
)
from glidepath.errors import InvalidArgument
from glidepath.household.model import Goals, ReturnModel


@dataclass(frozen=True)
class ConstantMix:
    """A fixed stock share; consumes 1 / (years left) of wealth: the optimal share for any
    consumption rule proportional to wealth is Samuelson's, whatever the rate."""

    share: float
    name: str

    def decide(self, state: YearState) -> Decision:
        return Decision(np.full(state.n_paths, self.share), state.cash_on_hand / state.years_left)


def test_engine_ce_is_maximised_at_the_discrete_samuelson_share() -> None:
    h = retiree(1_000_000.0, 30, 3.0)
    shares = np.round(np.arange(0.30, 0.86, 0.05), 2)
    mixes: list[Strategy] = [ConstantMix(float(s), f"mix{s:.2f}") for s in shares]
    settings = SimulationSettings(paths=32_768, seed=5, timing=FlowTiming.START_OF_YEAR)
    result = simulate(h, mixes, settings)
    ce = np.array([result.by_name(m.name).certainty_equivalent.value for m in mixes])
    best = int(np.argmax(ce))
    assert 0 < best < len(shares) - 1
    quad = np.polyfit(shares, np.log(ce), 2)
    peak = -quad[1] / (2 * quad[0])
    # docs/origins.md: about 0.57 in discrete time, not the continuous formula's 0.514.
    assert abs(peak - 0.567) < 0.02, peak
    assert abs(peak - 0.514) > 0.03


def test_registry_builds_every_named_strategy_and_refuses_unknown_names() -> None:
    h = example_household()
    switching = replace(h, market=replace(h.market, return_model=ReturnModel.REGIME_SWITCHING))
    for name in STRATEGIES:
        # dp_simplified is the DP of the regimes averaged: only a regime household has it
        strategy = make_strategy(name, switching if name == "dp_simplified" else h)
        assert strategy.name == name
        assert isinstance(strategy, Strategy)
    with pytest.raises(InvalidArgument):
        make_strategy("martingale", h)
    with pytest.raises(InvalidArgument, match="regime-switching"):
        make_strategy("dp_simplified", h)


def test_decisions_are_in_bounds_for_every_strategy_and_year() -> None:
    h = example_household()
    names = list(STRATEGIES)
    for part in (names[: len(names) // 2], names[len(names) // 2 :]):  # the per-run limit
        result = simulate(h, part, SimulationSettings(paths=1024, seed=2))
        for s in result.strategies:
            assert all(v >= 0 for row in s.consumption.values for v in row)


def retired_state(wealth: np.ndarray, t: int = 0) -> YearState:  # type: ignore[type-arg]
    h = replace(retiree(1.0, 30, 3.0), goals=Goals(retirement_spending=40_000.0))
    state = initial_state(h, len(wealth))
    return replace(state, t=t, wealth=wealth, wealth_at_retirement=np.full(len(wealth), 1e6))


def test_four_percent_rule_withdraws_four_percent_of_wealth_at_retirement() -> None:
    state = retired_state(np.array([5e5, 2e6]), t=7)
    d = FourPercentRule(0.6).decide(state)
    assert np.allclose(d.consumption, 40_000.0 + state.disposable)
    assert np.allclose(d.stock_share, 0.6)


def test_vpw_is_an_annuity_payment_over_the_years_left() -> None:
    state = retired_state(np.array([1e6]), t=10)
    d = VariablePercentageWithdrawal(0.5, rate=0.03).decide(state)
    factor = sum(1.03**-k for k in range(20))
    assert d.consumption[0] == pytest.approx(1e6 / factor)
    assert annuity_due_factor(0.0, 5) == 5.0 and annuity_due_factor(0.05, 1) == 1.0
    with_goal = VariablePercentageWithdrawal(0.5, goal=100_000.0, rate=0.03).decide(state)
    assert with_goal.consumption[0] == pytest.approx((1e6 - 100_000.0 / 1.03**20) / factor)


def test_guardrails_cut_and_raise_at_the_bands() -> None:
    rule = Guardrails(0.6)
    state = retired_state(np.array([1e6, 1e6, 1e6]), t=5)
    state = replace(state, last_withdrawal=np.array([50_000.0, 65_000.0, 35_000.0]))
    d = rule.decide(state)
    assert np.allclose(d.consumption, [50_000.0, 58_500.0, 38_500.0])
    first = replace(state, t=0)
    assert np.allclose(rule.decide(first).consumption, 50_000.0)


def test_glide_path_share_falls_with_age() -> None:
    h = example_household()
    state = initial_state(h, 2)
    assert np.allclose(GlidePath().decide(state).stock_share, 0.7)
    late = replace(state, t=40)
    assert np.allclose(GlidePath().decide(late).stock_share, 0.3)


def test_merton_rule_uses_human_capital() -> None:
    h = example_household()
    schedule = build_schedule(h)
    rule = MertonRule.for_schedule(schedule)
    state = initial_state(h, 1)
    d = rule.decide(state)
    x, hc = state.cash_on_hand[0], state.human_capital[0]
    assert hc > 500_000
    assert d.consumption[0] == pytest.approx((x + hc) / rule.consumption_factor(50))
    # Young with large human capital: all in stocks.
    assert d.stock_share[0] == 1.0
