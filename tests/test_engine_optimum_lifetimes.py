"""The DP optimum with lifetimes: mortality, couples, the essential-spending floor.

Known answers: a constant death probability lambda with no income and no bequest is the
problem without mortality under a time-preference factor 1 - lambda; a floor of 0 (or
one below the objective's utility floor) changes nothing. The DP's own value is the
mean lifetime utility of its policy replayed on lives drawn from the tables
(``optimum_support.replay_utility``): survival weighting, the bequest at the last
death, couple transitions and survivor incomes all enter that comparison.
"""

from __future__ import annotations

import math
from dataclasses import replace
from types import SimpleNamespace
from typing import cast

import numpy as np
import pytest
from engine_support import example_household, retiree
from household_support import RETIREE_JSON, bound_households
from hypothesis import HealthCheck, given, settings
from optimum_support import example_couple, example_single, replay_utility

from glidepath.engine import SimulationSettings, lives, mortality, simulate
from glidepath.engine.cashflows import build_schedule
from glidepath.engine.objective import FLOOR_FRACTION
from glidepath.engine.optimum import (
    OptimumSettings,
    OptimumStrategy,
    dp_applies,
    optimum_available,
    solve,
)
from glidepath.engine.state import FlowTiming, YearState
from glidepath.errors import InvalidArgument
from glidepath.household.convert import household_from_json
from glidepath.household.model import Household, Lifetimes, MortalityTable
from glidepath.household.validation import validate

X_POINTS = np.array([5e4, 2e5, 6e5, 1e6, 2.5e6])


def _constant_hazard(h: Household, hazard: float) -> Household:
    adult = h.adults[0]
    table = mortality.constant_hazard_table(hazard, adult.current_age, adult.life_expectancy - 1)
    mt = MortalityTable(table.first_age, tuple(float(q) for q in table.q))
    return replace(
        h,
        adults=(replace(adult, mortality_table=mt),),
        lifetimes=Lifetimes.MORTALITY,
    )


@pytest.mark.parametrize("gamma", [3.0, 1.0, 0.5])
def test_a_constant_hazard_is_a_time_preference_factor(gamma: float) -> None:
    hazard, years = 0.04, 30
    fixed = retiree(1_000_000.0, years, gamma)
    dying = _constant_hazard(fixed, hazard)
    with_mortality = solve(dying)
    discounted = solve(fixed, OptimumSettings(time_preference=1.0 - hazard))
    undiscounted = solve(fixed)
    assert with_mortality.horizon == discounted.horizon == years
    assert with_mortality.value == pytest.approx(discounted.value, rel=1e-6)
    assert with_mortality.certainty_equivalent == pytest.approx(
        discounted.certainty_equivalent, rel=1e-6
    )
    for t in range(years):
        c_m, s_m = with_mortality.policy(t, X_POINTS, np.zeros(5, dtype=np.int64))
        c_d, s_d = discounted.policy(t, X_POINTS)
        np.testing.assert_allclose(c_m, c_d, rtol=1e-6)
        np.testing.assert_allclose(s_m, s_d, atol=1e-6)
    # The check can fail: without the factor the policy consumes less early on.
    c_u, _ = undiscounted.policy(0, X_POINTS)
    c_m, _ = with_mortality.policy(0, X_POINTS, np.zeros(5, dtype=np.int64))
    assert np.all(c_m > c_u * 1.05)


def test_a_floor_of_zero_changes_nothing_and_a_real_floor_changes_the_policy() -> None:
    base = replace(example_household(), lifetimes=Lifetimes.MORTALITY)
    none = solve(base)
    assert (
        none.value == solve(replace(base, goals=replace(base.goals, essential_fraction=0.0))).value
    )
    # A floor below the objective's utility floor (5 % of the scale) has no bite either.
    tiny = solve(replace(base, goals=replace(base.goals, essential_fraction=FLOOR_FRACTION * 0.9)))
    assert tiny.value == none.value
    assert tiny.certainty_equivalent == none.certainty_equivalent
    floored = solve(replace(base, goals=replace(base.goals, essential_fraction=0.6)))
    assert floored.value < none.value
    # In retirement consumption bunches at the floor (the penalty's kink) over a range
    # of cash on hand, where without a floor it rises smoothly through it.
    t = 40  # age 80
    x = np.linspace(1e4, 2e5, 400)
    c_floor, _ = floored.policy(t, x)
    c_none, _ = none.policy(t, x)
    floor = 0.6 * base.goals.retirement_spending
    assert np.sum(np.isclose(c_floor, floor, rtol=1e-9)) > 10
    assert np.sum(np.isclose(c_none, floor, rtol=1e-9)) <= 1


@pytest.mark.parametrize(
    "household",
    [
        pytest.param(example_single(), id="single"),
        pytest.param(
            replace(
                example_single(), goals=replace(example_single().goals, essential_fraction=0.6)
            ),
            id="single-floor",
        ),
        pytest.param(example_couple(), id="couple"),
    ],
)
def test_the_dp_value_is_the_mean_utility_of_its_policy_on_drawn_lives(
    household: Household,
) -> None:
    solution = solve(household)
    u = replay_utility(household, solution, 40_000, seed=5)
    se = float(u.std() / math.sqrt(u.size))
    assert abs(float(u.mean()) - solution.value) < 4 * se + 2e-4 * abs(solution.value), (
        u.mean(),
        solution.value,
        se,
    )


def test_a_replay_under_the_wrong_lives_is_detected() -> None:
    # The comparison above can fail: the single's policy replayed on fixed lives (to
    # the life expectancy, no longevity risk) scores far from the DP's value.
    household = example_single()
    solution = solve(household)
    fixed = replace(household, lifetimes=Lifetimes.FIXED_HORIZON)
    u = replay_utility(fixed, solution, 20_000, seed=5)
    se = float(u.std() / math.sqrt(u.size))
    assert abs(float(u.mean()) - solution.value) > 10 * se


def test_the_expected_years_lived_are_the_tables() -> None:
    single = solve(example_single())
    adult = example_single().adults[0]
    g = example_single().goals.capital_goal / build_schedule(example_single()).consumption_scale
    years = single.utility_terms - g
    # deaths at mid-year: expected years started alive = e - x + 1/2
    assert years == pytest.approx(adult.life_expectancy - adult.current_age + 0.5, abs=1e-6)
    couple = example_couple()
    p = lives.survival(couple)
    alive = np.concatenate([np.ones((2, 1)), np.cumprod(p, axis=1)[:, :-1]], axis=1)
    either = 1.0 - (1.0 - alive[0]) * (1.0 - alive[1])
    g2 = couple.goals.capital_goal / build_schedule(couple).consumption_scale
    assert solve(couple).utility_terms - g2 == pytest.approx(float(either.sum()), rel=1e-9)


def test_survival_transitions_of_a_couple() -> None:
    couple = example_couple()
    p = lives.survival(couple)
    to_state, to_none = lives.transitions(lives.COUPLE_STATES, p)
    np.testing.assert_allclose(to_state.sum(axis=2) + to_none, 1.0, atol=1e-12)
    t = 30
    p0, p1 = p[0, t], p[1, t]
    np.testing.assert_allclose(to_state[t, 0], [p0 * p1, p0 * (1 - p1), (1 - p0) * p1], rtol=1e-12)
    np.testing.assert_allclose(to_state[t, 1], [0.0, p0, 0.0])
    np.testing.assert_allclose(to_state[t, 2], [0.0, 0.0, p1])
    table = lives.life_table(couple, 1)
    np.testing.assert_allclose(p[1, : table.q.size], 1.0 - table.q)
    assert np.all(p[1, table.q.size :] == 0.0)
    # FIXED_HORIZON: certain survival until the year before the life expectancy.
    fixed = lives.survival(example_couple(Lifetimes.FIXED_HORIZON))
    assert fixed[0].tolist() == [1.0] * (88 - 45 - 1) + [0.0] * (fixed.shape[1] - 42)


def test_survivor_incomes_and_spending_by_life_state() -> None:
    couple = example_couple()
    flows = lives.state_flows(couple, 60)
    t = 25  # Sam 70, Robin 68: both retired, mortgage paid
    both, only_sam, only_robin = flows.net_income[:, t]
    assert both == pytest.approx(24_000.0 + 16_000.0)
    assert only_sam == pytest.approx(24_000.0)  # Robin's pension stops
    assert only_robin == pytest.approx(16_000.0 + 0.6 * 24_000.0)  # reversion of 60 %
    assert flows.floor[:, t].tolist() == pytest.approx([36_000.0, 25_200.0, 25_200.0])
    t = 5  # both working, mortgage running
    assert flows.net_income[1, t] == pytest.approx(70_000.0 * 1.01**t - 18_000.0)
    assert flows.floor[:, t].tolist() == [0.0, 0.0, 0.0]
    # A single household's flows are the engine schedule's.
    h = example_household()
    schedule = build_schedule(h)
    np.testing.assert_allclose(
        lives.state_flows(h, schedule.horizon).net_income[0], schedule.real_net_income
    )


def test_the_couple_optimum_depends_on_who_is_alive() -> None:
    solution = solve(example_couple())
    assert solution.states == lives.COUPLE_STATES
    t, x = 30, np.full(3, 8e5)
    c, _ = solution.policy(t, x, np.array([0, 1, 2]))
    # Robin alone has the reversionary pension and a 70 % need: spends unlike Sam alone.
    assert len({round(float(v)) for v in c}) == 3
    # The strategy reads the year state's alive mask.
    alive = np.array([[True, True, False, False], [True, False, True, False]])
    state = SimpleNamespace(t=t, cash_on_hand=np.full(4, 8e5), alive=alive)
    decision = OptimumStrategy(solution).decide(cast(YearState, state))
    np.testing.assert_allclose(decision.consumption[:3], c)
    assert decision.consumption[3] == 0.0
    # Past the DP's horizon (the latest table end) nobody is alive: nothing is spent.
    late = SimpleNamespace(t=solution.horizon, cash_on_hand=np.full(4, 8e5), alive=alive)
    assert np.all(OptimumStrategy(solution).decide(cast(YearState, late)).consumption == 0.0)
    with pytest.raises(ValueError, match="alive"):
        OptimumStrategy(solution).decide(cast(YearState, SimpleNamespace(t=t, cash_on_hand=x)))


def test_the_optimum_is_available_for_lives_with_mortality() -> None:
    ok, reason = optimum_available(example_single())
    assert ok, reason
    assert optimum_available(example_couple(Lifetimes.FIXED_HORIZON)) == (True, "")


def test_an_impossible_life_expectancy_is_refused_by_name() -> None:
    h = example_couple()
    h = replace(h, adults=(h.adults[0], replace(h.adults[1], life_expectancy=115)))
    with pytest.raises(InvalidArgument) as err:
        solve(h)
    assert "household.adults[1].life_expectancy" in str(err.value)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(bound_households())
def test_the_optimum_with_mortality_solves_a_household_at_the_bounds(
    household: Household,
) -> None:
    household = replace(
        household,
        lifetimes=Lifetimes.MORTALITY,
        goals=replace(household.goals, essential_fraction=0.6),
    )
    try:  # at the bounds of validation under mortality (ages 11 to 110, reachable lives)
        validate(household)
    except InvalidArgument:
        return
    if not dp_applies(household)[0]:
        return
    try:
        solution = solve(household, OptimumSettings(savings_points=60))
    except InvalidArgument:
        return  # a life expectancy the law cannot reach (validation refuses it)
    assert math.isfinite(solution.value) or solution.value == -math.inf
    for policy in solution.by_state:
        for t in range(solution.horizon):
            assert np.all(np.isfinite(policy.consumption[t]))
            assert np.all((policy.shares[t] >= 0) & (policy.shares[t] <= 1))
    c, share = solution.policy(0, np.array([0.0, 1.0, 1e6, 1e12]), np.zeros(4, dtype=np.int64))
    assert np.all(np.isfinite(c)) and np.all((share >= 0) & (share <= 1))


def _retiree_with_floor(fraction: float) -> Household:
    """65, a pension of 15,000, 1,000,000 saved, a target of 55,000, under mortality."""
    base = household_from_json(RETIREE_JSON.read_text())
    return replace(base, goals=replace(base.goals, essential_fraction=fraction))


def test_a_floor_that_never_binds_costs_the_optimum_nothing() -> None:
    """Its pension (27 % of the target) keeps consumption above a floor of 20 % in every
    state: the value is the floorless one. (Interpolating the penalty linearly from the
    X = 0 point into the constrained region once cost 4 % here.)"""
    assert solve(_retiree_with_floor(0.2)).value == pytest.approx(
        solve(_retiree_with_floor(0.0)).value, rel=1e-9
    )


def test_where_the_floor_binds_the_optimum_beats_every_rule() -> None:
    """At 60 % and 80 % of the target the floor binds in many lives; the optimum's policy,
    replayed by the simulator, beats VPW and "floor and upside". (Reading u'(F) as the
    marginal value on the floor's kink once left it 9 % below VPW.)"""
    for fraction in (0.6, 0.8):
        result = simulate(
            _retiree_with_floor(fraction),
            ["optimum", "vpw", "floor_upside", "merton"],
            SimulationSettings(paths=4_000, seed=3, timing=FlowTiming.START_OF_YEAR),
        )
        best_rule = max(
            result.paired, key=lambda p: p.difference.value
        )  # each rule minus the optimum
        assert best_rule.difference.value < -3 * best_rule.difference.standard_error
