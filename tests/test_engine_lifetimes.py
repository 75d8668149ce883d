"""Lifetimes in the engine: deaths drawn beside the market, who is alive, the couple's
rules, years lived and the bequest at death, the floor, and what is reported."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from glidepath.engine import SimulationSettings, build_schedule, simulate
from glidepath.engine.lifetimes import draw_death_years
from glidepath.engine.market import Scenarios
from glidepath.engine.objective import FLOOR_PENALTY, Objective
from glidepath.engine.state import Decision
from glidepath.engine.step import initial_state, step
from glidepath.household.model import (
    Account,
    Adult,
    Goals,
    Household,
    Income,
    Lifetimes,
)

RULES = ["own_plan", "merton", "vpw", "guardrails"]


def single(**changes: object) -> Household:
    base = Household(
        adults=(Adult(65, 65, 85),),
        accounts=(Account(600_000.0, 0.0, 0.5, 0.5, 0.0),),
        incomes=(Income(15_000.0, 65),),
        goals=Goals(capital_goal=50_000.0, retirement_spending=45_000.0),
        lifetimes=Lifetimes.MORTALITY,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def pair(**changes: object) -> Household:
    base = Household(
        adults=(Adult(66, 66, 84), Adult(63, 63, 88)),
        accounts=(Account(500_000.0, 0.0, 0.5, 0.5, 0.0),),
        incomes=(
            Income(24_000.0, 66, adult=0, survivor_fraction=0.6),
            Income(9_000.0, 63, adult=1),
        ),
        goals=Goals(capital_goal=0.0, retirement_spending=50_000.0),
        lifetimes=Lifetimes.MORTALITY,
        survivor_spending_fraction=0.7,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def run(household: Household, paths: int = 4096, seed: int = 3, **kw: object):  # type: ignore[no-untyped-def]
    return simulate(household, RULES, SimulationSettings(paths=paths, seed=seed, **kw))  # type: ignore[arg-type]


def test_drawn_ages_at_death_reproduce_the_life_expectancy_on_a_million_paths() -> None:
    for household, expected in ((single(), (85.0,)), (pair(), (84.0, 88.0))):
        lives = build_schedule(household).lives
        assert lives is not None
        years = draw_death_years(lives, 11, 0, 1_000_000)
        for j, target in enumerate(expected):
            mean_age = household.adults[j].current_age + years[j].mean() + 0.5
            assert abs(mean_age - target) < 0.05


def test_the_engine_lives_the_expected_years_of_the_tables() -> None:
    result = run(pair(), paths=20_000)
    lives = build_schedule(pair()).lives
    assert lives is not None
    for s in result.strategies:
        assert s.lifetimes is not None
        lived = s.lifetimes.years_lived
        assert abs(lived.value - lives.expected_years) < 4 * lived.standard_error
    # The distribution of ages at death: every path counted once per adult.
    stats = result.strategies[0].lifetimes
    assert stats is not None
    assert [sum(row) for row in stats.death_ages] == [20_000, 20_000]
    assert sum(stats.last_death_ages) == 20_000
    ages = stats.first_death_age + np.arange(len(stats.last_death_ages))
    last_mean = float(np.dot(ages, stats.last_death_ages)) / 20_000
    assert last_mean > stats.first_death_age


def test_deaths_are_common_random_numbers_for_every_strategy_and_batch_split() -> None:
    a = run(pair(), paths=3000)
    b = run(pair(), paths=3000, batch_paths=1024)
    lived = {s.lifetimes.years_lived.value for s in a.strategies if s.lifetimes}
    assert len(lived) == 1  # the same lives under every strategy
    assert [s.lifetimes.death_ages for s in a.strategies if s.lifetimes] == [
        s.lifetimes.death_ages for s in b.strategies if s.lifetimes
    ]
    other = run(pair(), paths=3000, seed=4)
    assert other.strategies[0].lifetimes != a.strategies[0].lifetimes


def test_deaths_leave_the_market_unchanged() -> None:
    fixed = dataclasses.replace(pair(), lifetimes=Lifetimes.FIXED_HORIZON)
    schedule = build_schedule(fixed)
    before = Scenarios(schedule.market, 5, 0, 2048).year(0).stocks.copy()
    lives = build_schedule(pair()).lives
    assert lives is not None
    draw_death_years(lives, 5, 0, 2048)
    assert np.array_equal(Scenarios(schedule.market, 5, 0, 2048).year(0).stocks, before)


def _spend_target(state) -> Decision:  # type: ignore[no-untyped-def]
    return Decision(np.full(state.n_paths, 0.5), state.path_target)


def test_the_couple_rules_when_one_dies_and_the_end_when_both_have() -> None:
    household = pair()
    schedule = build_schedule(household)
    # Path 0: adult 0 dies in year 0 (at 66); path 1: adult 1 in year 0; path 2: both
    # in year 1; path 3: nobody dies before year 10.
    death_year = np.array([[0, 40, 1, 10], [40, 0, 1, 12]], dtype=np.int64)
    state = initial_state(schedule, 4, death_year=death_year)
    assert state.life_code.tolist() == [3, 3, 3, 3]  # type: ignore[union-attr]
    market = Scenarios(schedule.market, 0, 0, 4)
    state, first = step(state, _spend_target(state), market.year(0))
    assert state.life_code.tolist() == [2, 1, 3, 3]  # type: ignore[union-attr]
    assert state.alive is not None  # the mask per adult, as the optimum reads it
    assert state.alive.tolist() == [[False, True, True, True], [True, False, True, True]]
    pensions = state.pension * state.price_index**0  # indexed: real amounts
    # Adult 0 dead: their pension pays 60 % to the survivor, adult 1's own is unchanged.
    assert pensions[0] == pytest.approx(0.6 * 24_000.0 + 9_000.0)
    # Adult 1 dead: their pension stops (no survivor fraction), adult 0's unchanged.
    assert pensions[1] == pytest.approx(24_000.0)
    assert pensions[2] == pensions[3] == pytest.approx(33_000.0)
    # The lone survivor's target is 70 % of the couple's.
    assert state.path_target.tolist() == pytest.approx([35_000.0, 35_000.0, 50_000.0, 50_000.0])
    assert first.lived is None or first.lived.all()
    state, _ = step(state, _spend_target(state), market.year(1))
    assert state.life_code is not None and state.life_code.tolist()[2] == 0  # path 2 is over
    frozen = state.wealth[2]
    state, outcome = step(state, _spend_target(state), market.year(2))
    assert outcome.lived is not None and outcome.lived.tolist() == [True, True, False, True]
    assert outcome.consumption[2] == 0.0 and state.wealth[2] == frozen  # the bequest
    assert state.income[2] == state.charges[2] == 0.0


def _figures(s: object) -> tuple[object, ...]:
    return (s.certainty_equivalent, s.terminal.mean, s.success_probability)  # type: ignore[attr-defined]


def test_survivor_fractions_change_the_results() -> None:
    base = run(pair())
    none = pair(
        incomes=tuple(dataclasses.replace(i, survivor_fraction=0.0) for i in pair().incomes)
    )
    stopped = run(none)
    for a, b in zip(base.strategies, stopped.strategies, strict=True):
        assert _figures(a) != _figures(b), a.name  # a survivor's income moves every rule
    assert (
        stopped.by_name("own_plan").success_probability.value
        < base.by_name("own_plan").success_probability.value
    )
    # The survivor's spending need moves the rules that spend a target, and the
    # shortfall (judged against the survivor's target).

    lean = run(pair(survivor_spending_fraction=0.5))
    assert _figures(lean.by_name("own_plan")) != _figures(base.by_name("own_plan"))
    assert (
        lean.by_name("merton").shortfall.mean_total != base.by_name("merton").shortfall.mean_total
    )


def test_the_floor_changes_the_objective_and_is_reported() -> None:
    plain = run(single())
    floored = run(single(goals=dataclasses.replace(single().goals, essential_fraction=0.8)))
    for a, b in zip(plain.strategies, floored.strategies, strict=True):
        assert a.lifetimes is not None and b.lifetimes is not None
        assert a.lifetimes.below_floor_probability is None
        assert b.lifetimes.below_floor_probability is not None
        # Same lives, same spending: the penalty only lowers the objective.
        assert b.lifetimes.spending_ce.value == a.lifetimes.spending_ce.value
        assert b.certainty_equivalent.value <= a.certainty_equivalent.value
        if b.lifetimes.below_floor_probability.value > 0:
            assert b.certainty_equivalent.value < a.certainty_equivalent.value
            assert b.lifetimes.years_below_floor is not None
            assert b.lifetimes.years_below_floor.value > 0
    assert floored.by_name("own_plan").lifetimes.below_floor_probability.value > 0  # type: ignore[union-attr]


def test_a_floor_of_zero_or_below_the_ruin_floor_changes_no_figure_of_the_objective() -> None:
    plain = run(single())
    tiny = run(single(goals=dataclasses.replace(single().goals, essential_fraction=0.04)))
    for a, b in zip(plain.strategies, tiny.strategies, strict=True):
        assert a.certainty_equivalent == b.certainty_equivalent
        assert a.mean_utility == b.mean_utility


def test_the_floor_penalty_is_continuous_and_weighs_eleven_times() -> None:
    objective = Objective(horizon=10, scale=40_000.0, capital_goal=0.0, gamma=3.0)
    floor = np.full(3, 24_000.0)
    c = np.array([24_000.0, 23_999.0, 12_000.0])
    plain = objective.year_utility(c)
    with_floor = objective.year_utility(c, floor)
    assert with_floor[0] == plain[0]  # at the floor: nothing lost
    u_floor = objective.year_utility(floor)[0]
    assert with_floor[2] - u_floor == pytest.approx((1 + FLOOR_PENALTY) * (plain[2] - u_floor))
    assert objective.year_utility(c, np.zeros(3)).tolist() == plain.tolist()


def test_the_bequest_at_death_enters_the_objective_and_the_ce_uses_the_years_lived() -> None:
    result = run(single(), paths=2048, keep_path_utilities=True)
    schedule = build_schedule(single())
    objective = Objective.for_schedule(schedule)
    assert schedule.lives is not None
    assert objective.years == schedule.lives.expected_years < schedule.horizon
    merton = result.by_name("merton")
    assert merton.path_utilities is not None
    ce = objective.certainty_equivalent(float(merton.path_utilities.mean()))
    assert ce == pytest.approx(merton.certainty_equivalent.value)
    no_goal = run(single(goals=dataclasses.replace(single().goals, capital_goal=0.0)))
    assert no_goal.by_name("merton").certainty_equivalent != merton.certainty_equivalent


def test_ruin_while_alive_and_years_without_money() -> None:
    poor = single(accounts=(Account(150_000.0, 0.0, 0.5, 0.5, 0.0),))
    result = run(poor)
    own = result.by_name("own_plan")
    assert own.lifetimes is not None
    assert own.ruin_probability.value > 0.3
    assert own.lifetimes.years_without_money.value > 0
    merton = result.by_name("merton")
    assert merton.lifetimes is not None and merton.lifetimes.years_without_money.value == 0.0
    # Bands by age over the lives still running: fewer paths at 100 than at 66.
    n_by_age = own.wealth.n_by_age
    assert n_by_age and n_by_age[1] > n_by_age[35] > 0


def test_the_optimum_is_unavailable_where_the_dynamic_programme_does_not_solve_lives() -> None:

    floored = dataclasses.replace(
        single(lifetimes=Lifetimes.FIXED_HORIZON),
        goals=dataclasses.replace(single().goals, essential_fraction=0.6),
    )
    for household in (single(), pair(), floored):
        result = simulate(household, ["optimum", "merton"], SimulationSettings(paths=512))
        assert "optimum" not in result.skipped and result.optimum_available


def test_floor_and_upside_secures_the_floor_and_is_merton_without_one() -> None:
    names = ["merton", "floor_upside"]
    plain = simulate(single(), names, SimulationSettings(paths=4096, seed=2))
    a, b = plain.strategies
    assert a.certainty_equivalent == b.certainty_equivalent  # no floor: the Merton rule
    poorer = single(
        accounts=(Account(350_000.0, 0.0, 0.5, 0.5, 0.0),),
        goals=dataclasses.replace(single().goals, essential_fraction=0.7),
    )
    for household in (poorer, dataclasses.replace(poorer, lifetimes=Lifetimes.FIXED_HORIZON)):
        merton, floor = simulate(
            household, names, SimulationSettings(paths=4096, seed=2)
        ).strategies
        assert merton.lifetimes is not None and floor.lifetimes is not None
        assert floor.lifetimes.years_below_floor is not None
        assert merton.lifetimes.years_below_floor is not None
        assert floor.lifetimes.years_below_floor.value < merton.lifetimes.years_below_floor.value


def test_a_rollout_replays_the_same_lives_and_utilities_as_simulate() -> None:
    from glidepath.engine import rollout

    household = pair(goals=dataclasses.replace(pair().goals, essential_fraction=0.6))
    summary = simulate(
        household, ["guardrails"], SimulationSettings(paths=1500, seed=12, keep_path_utilities=True)
    )
    paths = rollout(household, "guardrails", 1500, seed=12)
    kept = summary.by_name("guardrails").path_utilities
    assert kept is not None
    assert np.allclose(paths.utility, kept, rtol=1e-10, atol=0)
