"""The exact DP with an observed regime as a state: identical regimes give the plain DP,
its value is the mean utility of its own policy replayed on the regime chain, its
policy depends on the regime, observability changes the results and the references
(exact where the regime is seen, dp_simplified where it is hidden), and the regime zoo
households' solve times."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from engine_support import retiree
from optimum_support import example_couple, replay_utility

from glidepath.engine import SimulationSettings, lives, simulate
from glidepath.engine.optimum import (
    OptimumStrategy,
    _problem,
    dp_applies,
    optimum_available,
    simplified_available,
    simplified_household,
    solve,
    solve_optimum,
)
from glidepath.engine.optimum_regimes import _with_regimes, switching_matrix
from glidepath.engine.run import MAX_STRATEGIES
from glidepath.engine.state import FlowTiming
from glidepath.engine.step import initial_state
from glidepath.household.convert import household_from_json
from glidepath.household.model import (
    AnnuityOffer,
    Goals,
    Household,
    Lifetimes,
    RegimeSwitching,
    ReturnModel,
)
from glidepath.rl.gate import other_strategies

ROOT = Path(__file__).resolve().parent.parent
SEEN = RegimeSwitching(calm_to_turbulent=0.2, turbulent_to_calm=0.4, observable=True)


def with_regimes(h: Household, regimes: RegimeSwitching = SEEN) -> Household:
    market = replace(h.market, return_model=ReturnModel.REGIME_SWITCHING, regimes=regimes)
    return replace(h, market=market)


def spender(lifetimes: Lifetimes = Lifetimes.MORTALITY) -> Household:
    """A retiree of 65 to 90 with a spending target and a goal (25 years).

    No floor: on a floor that binds often the plain DP's own value already sits a few
    per cent below its replay here (the penalty's interpolation), which would hide
    what this file checks.
    """
    base = retiree(wealth=900_000.0, years=25, gamma=4.0)
    goals = Goals(capital_goal=100_000.0, retirement_spending=50_000.0)
    return replace(base, goals=goals, lifetimes=lifetimes)


def test_two_identical_regimes_are_the_plain_dp() -> None:
    plain = spender()
    same = with_regimes(plain, replace(SEEN, turbulent=plain.market.calm_regime()))
    a, b = solve(same), solve(plain)
    assert a.regimes and not b.regimes
    assert a.certainty_equivalent == pytest.approx(b.certainty_equivalent, rel=1e-12)
    assert a.value == pytest.approx(b.value, rel=1e-12)
    x = np.linspace(1e4, 2e6, 50)
    for t in (0, 10, 20):
        for regime in (0, 1):
            c, share = a.policy(t, x, np.full(x.size, regime, dtype=np.int64))
            c0, share0 = b.policy(t, x, np.zeros(x.size, dtype=np.int64))
            np.testing.assert_allclose(c, c0, rtol=1e-10)
            np.testing.assert_allclose(share, share0, rtol=1e-10, atol=1e-12)


def test_the_product_transitions_are_survival_times_switching() -> None:
    couple = with_regimes(example_couple())
    base = _problem(couple, 1.0, 3.0, 1.0)
    prob = _with_regimes(base, switching_matrix(couple))
    n = base.to_state.shape[1]
    assert prob.to_state.shape[1:] == (2 * n, 2 * n)
    total = prob.to_state.sum(axis=2) + prob.to_none
    np.testing.assert_allclose(total, 1.0, atol=1e-12)
    chain = switching_matrix(couple)
    t = 30
    for r, rr, s, ss in ((0, 1, 0, 1), (1, 1, 0, 0), (1, 0, 2, 2)):
        assert prob.to_state[t, r * n + s, rr * n + ss] == pytest.approx(
            chain[r, rr] * base.to_state[t, s, ss]
        )


@pytest.mark.parametrize("lifetimes", [Lifetimes.MORTALITY, Lifetimes.FIXED_HORIZON])
def test_the_regime_dp_value_is_the_mean_utility_of_its_policy_on_the_chain(
    lifetimes: Lifetimes,
) -> None:
    household = with_regimes(spender(lifetimes))
    solution = solve(household)
    u = replay_utility(household, solution, 40_000, seed=7)
    se = float(u.std() / math.sqrt(u.size))
    assert abs(float(u.mean()) - solution.value) < 4 * se + 2e-4 * abs(solution.value), (
        u.mean(),
        solution.value,
        se,
    )


def test_the_policy_invests_less_in_a_turbulent_year() -> None:
    solution = solve(with_regimes(spender()))
    x = np.linspace(3e5, 1.5e6, 20)
    alive = np.zeros(x.size, dtype=np.int64)
    _, calm = solution.policy(5, x, alive)
    _, rough = solution.policy(5, x, alive + 1)
    assert np.all(rough < calm - 0.1)


def test_seeing_the_regime_is_worth_something_in_the_simulator() -> None:
    seen = with_regimes(spender())
    hidden = with_regimes(spender(), replace(SEEN, observable=False))
    settings = SimulationSettings(paths=8_192, seed=3, timing=FlowTiming.START_OF_YEAR)
    result = simulate(seen, ["optimum", "dp_simplified", "vpw"], settings)
    optimum, simplified = result.by_name("optimum"), result.by_name("dp_simplified")
    assert result.optimum_available
    gain = optimum.certainty_equivalent.value - simplified.certainty_equivalent.value
    assert gain > 4 * optimum.certainty_equivalent.standard_error
    # the replay agrees with the DP's own CE (same timing)
    ce = solve_optimum(seen).certainty_equivalent
    assert abs(optimum.certainty_equivalent.value - ce) < 0.01 * ce
    # hidden: no optimum, and dp_simplified is the same policy (it never reads the regime)
    blind = simulate(hidden, ["optimum", "dp_simplified"], settings)
    assert not blind.optimum_available and "optimum" in blind.skipped
    assert blind.by_name("dp_simplified").certainty_equivalent.value == pytest.approx(
        simplified.certainty_equivalent.value, rel=1e-12
    )


def test_the_regime_optimum_refuses_a_belief_that_is_not_a_seen_regime() -> None:
    household = with_regimes(spender(Lifetimes.FIXED_HORIZON))
    strategy = OptimumStrategy(solve(household))
    state = initial_state(household, 4, turbulent=np.array([True, False, True, False]))
    c = strategy.decide(state).consumption
    assert c.shape == (4,)
    hidden = replace(state, regime_belief=np.full(4, 0.3))
    with pytest.raises(ValueError, match="observed regime"):
        strategy.decide(hidden)


def test_the_references_follow_what_the_household_sees() -> None:
    seen = with_regimes(spender())
    hidden = with_regimes(spender(), replace(SEEN, observable=False))
    assert optimum_available(seen) == (True, "")
    assert not optimum_available(hidden)[0] and "cannot observe" in optimum_available(hidden)[1]
    assert simplified_available(hidden)[0]
    assert "optimum" in other_strategies(seen) and "dp_simplified" not in other_strategies(seen)
    assert "dp_simplified" in other_strategies(hidden) and "optimum" not in other_strategies(hidden)
    # an annuity offer still rules the exact DP out, seen regimes or not
    assert not dp_applies(replace(seen, annuities=AnnuityOffer()))[0]


def zoo(name: str) -> Household:
    return household_from_json((ROOT / "benchmarks" / "zoo" / f"{name}.json").read_text())


def test_the_regime_zoo_households_have_the_references_they_are_meant_to() -> None:
    observable, combined = zoo("regime_observable"), zoo("combined")
    assert optimum_available(observable)[0]
    solution = solve_optimum(observable)  # its solve time: benchmarks/bench_zoo.py
    assert solution.regimes
    assert not optimum_available(combined)[0]
    # every baseline of both decisions, a reference and the candidate fit in one run
    assert len(other_strategies(combined)) + 2 <= MAX_STRATEGIES
    sensitive = zoo("regime_sensitive")
    simplified = solve_optimum(simplified_household(sensitive))
    assert not simplified.regimes
    # seeing the regime is worth something: the exact value above the averaged one's
    assert solution.certainty_equivalent > simplified.certainty_equivalent
    assert lives.life_states(observable) == ((0,),)
