"""The purchase-once annuity DP: what it buys, that its value is its policy's, when it is
the optimum and when only ``dp_simplified`` (a lower bound), and its strategy in the
simulator.

Known cases: at a fair price (money's worth 1.0) a cautious retiree with no bequest
motive annuitises much of its wealth; at a price three times the fair one it buys
nothing, and the DP is then the plain one. The DP's value is the mean lifetime utility
of its own policy replayed on drawn lives and quadrature returns
(``optimum_support.replay_annuity_utility``), the purchase year included.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from optimum_support import replay_annuity_utility

from glidepath.engine import SimulationSettings, simulate
from glidepath.engine.cashflows import build_schedule
from glidepath.engine.lifetimes import draw_death_years
from glidepath.engine.market import Scenarios
from glidepath.engine.optimum import (
    DP_SIMPLIFIED,
    optimum_available,
    simplified_available,
    simplified_claim_ages,
    simplified_household,
    solve,
    solve_optimum,
)
from glidepath.engine.optimum_annuity import solve_annuity_cached
from glidepath.engine.state import Decision
from glidepath.engine.step import initial_state, step
from glidepath.household.convert import (
    household_from_json,
    household_from_proto,
    household_to_proto,
)
from glidepath.household.model import (
    Account,
    Adult,
    AnnuityOffer,
    Goals,
    Household,
    Income,
    Lifetimes,
)


def cautious_retiree(**offer: object) -> Household:
    """70, retired, a small pension, 600,000 saved, a target of 38,000, gamma 6: the
    zoo's annuity retiree, offered one purchase (at 70 unless ``from_age`` says)."""
    fields: dict[str, object] = {"only_at_from_age": True, **offer}
    return Household(
        adults=(Adult(70, 70, 89, name="Lee"),),
        incomes=(Income(9_000.0, 70, label="pension"),),
        accounts=(Account(600_000.0, 0.0, 0.4, 0.6, 0.0),),
        goals=Goals(retirement_spending=38_000.0),
        risk_aversion=6.0,
        lifetimes=Lifetimes.MORTALITY,
        annuities=AnnuityOffer(**fields),  # type: ignore[arg-type]
    )


def first_fraction(household: Household) -> float:
    solution = solve_annuity_cached(household)
    wealth = build_schedule(household).initial_wealth
    cash = np.array([wealth + 9_000.0])
    return float(solution.fractions(cash, np.array([wealth]), 0)[0])


def test_a_fair_annuity_is_bought_and_raises_the_optimum() -> None:
    fair = cautious_retiree(money_worth_ratio=1.0)
    assert first_fraction(fair) >= 0.5
    plain = solve(replace(fair, annuities=None))
    bought = solve_annuity_cached(fair).before
    assert bought.certainty_equivalent > 1.1 * plain.certainty_equivalent


def test_an_annuity_priced_far_above_fair_is_not_bought() -> None:
    dear = cautious_retiree(money_worth_ratio=0.3)
    assert first_fraction(dear) == 0.0
    plain = solve(replace(dear, annuities=None))
    assert solve_annuity_cached(dear).before.value == pytest.approx(plain.value, rel=1e-9)


@pytest.mark.parametrize("from_age", [70, 73])
def test_the_dp_value_is_the_mean_utility_of_its_policy_on_drawn_lives(from_age: int) -> None:
    household = cautious_retiree(money_worth_ratio=0.9, from_age=from_age)
    solution = solve_annuity_cached(household)
    assert solution.purchase_year == from_age - 70
    u = replay_annuity_utility(household, solution, 40_000, seed=5)
    se = float(u.std() / math.sqrt(u.size))
    value = solution.before.value
    assert abs(float(u.mean()) - value) < 4 * se + 2e-3 * abs(value), (u.mean(), value, se)


def test_the_dp_is_the_optimum_only_where_one_purchase_is_all_the_offer_allows() -> None:
    once = cautious_retiree()
    assert optimum_available(once) == (True, "")
    assert not simplified_available(once)[0]
    every_year = cautious_retiree(only_at_from_age=False)
    ok, reason = optimum_available(every_year)
    assert not ok and DP_SIMPLIFIED in reason and "lower bound" in reason
    assert simplified_available(every_year) == (True, "")
    assert simplified_household(every_year) == once
    level = cautious_retiree(indexed_to_inflation=False)
    ok, reason = optimum_available(level)
    assert not ok and "indexed annuities only" in reason
    assert not simplified_available(
        replace(level, annuities=replace(level.annuities or AnnuityOffer(), only_at_from_age=False))
    )[0]


def test_the_optimum_buys_in_the_simulator_and_beats_the_rules_that_buy() -> None:
    household = cautious_retiree()
    names = ["merton", "annuitise_50", "floor_annuity", "optimum"]
    result = simulate(household, names, SimulationSettings(paths=4_000, seed=3))
    ce = {s.name: s.certainty_equivalent.value for s in result.strategies}
    best_rule = max(ce[n] for n in names[:-1])
    assert ce["optimum"] > 1.02 * best_rule
    optimum = result.by_name("optimum")
    assert optimum.annuities is not None and optimum.annuities.probability.value == 1.0
    # Its value in the simulator (monthly flows) is the DP's own within a few per cent.
    dp = solve_annuity_cached(household).before.certainty_equivalent
    assert ce["optimum"] == pytest.approx(dp, rel=0.04)


def test_dp_simplified_replays_one_purchase_on_an_offer_open_every_year() -> None:
    household = cautious_retiree(only_at_from_age=False)
    result = simulate(household, ["merton", DP_SIMPLIFIED], SimulationSettings(paths=2_000, seed=3))
    merton, simplified = result.strategies
    assert simplified.certainty_equivalent.value > merton.certainty_equivalent.value
    assert simplified.annuities is not None and simplified.annuities.probability.value == 1.0


def test_an_offer_of_one_purchase_refuses_purchases_in_later_years() -> None:
    def bought_in_year_one(household: Household) -> float:
        schedule = build_schedule(household)
        deaths = draw_death_years(schedule.lives, 1, 0, 4) if schedule.lives else None
        state = initial_state(schedule, 4, death_year=deaths)
        scenarios = Scenarios(schedule.market, 1, 0, 4)
        keep = Decision(np.full(4, 0.5), np.full(4, 30_000.0))
        state, _ = step(state, keep, scenarios.year(0))
        buy = Decision(np.full(4, 0.5), np.full(4, 30_000.0), annuitise=np.full(4, 0.5))
        _, outcome = step(state, buy, scenarios.year(1))
        assert outcome.annuitised is not None
        return float(outcome.annuitised.sum())

    assert bought_in_year_one(cautious_retiree(only_at_from_age=False)) > 0.0
    assert bought_in_year_one(cautious_retiree()) == 0.0


def test_one_purchase_is_read_from_the_household_file_and_written_back() -> None:
    text = Path("benchmarks/zoo/annuity_retiree.json").read_text()
    offer = json.loads(text)
    offer["annuities"]["onlyAtFromAge"] = True
    household = household_from_json(json.dumps(offer))
    assert household.annuities is not None and household.annuities.only_at_from_age
    assert household_from_proto(household_to_proto(household)) == household
    assert household_from_json(text).annuities == replace(
        household.annuities, only_at_from_age=False
    )


COMBINED = Path(__file__).resolve().parents[1] / "benchmarks" / "zoo" / "combined.json"


def test_with_annuities_and_a_claiming_window_the_simplified_model_fixes_the_claiming_age() -> None:
    """No exact programme decides a yearly annuity offer, a claiming window and hidden
    regimes together; dp_simplified claims at the age the enumeration chooses without
    the offer, buys once at the offer's age, and is replayed on the household's market."""
    household = household_from_json(COMBINED.read_text())
    assert not optimum_available(household)[0]
    assert simplified_available(household) == (True, "")
    plain = replace(simplified_household(household), annuities=None)
    ages = simplified_claim_ages(household)
    assert ages == solve_optimum(plain).claim_ages
    names = ["claim_latest", "floor_annuity", DP_SIMPLIFIED]
    result = simulate(household, names, SimulationSettings(paths=2_000, seed=4))
    by = {s.name: s for s in result.strategies}
    (claims,) = by[DP_SIMPLIFIED].claims
    claimed = claims.at_age[ages[0] - claims.first_age].value
    assert claimed + claims.died_first.value == pytest.approx(1.0)  # every life at that age
    bought = by[DP_SIMPLIFIED].annuities
    assert bought is not None and bought.probability.value > 0.5  # it buys
    best_rule = max(
        by["claim_latest"], by["floor_annuity"], key=lambda s: s.certainty_equivalent.value
    )
    assert by[DP_SIMPLIFIED].certainty_equivalent.value > best_rule.certainty_equivalent.value
