"""Learning, on the default budget: 1,000 lives beat the Merton-style rule on held-out lives.

The full figures (3 seeds, both reference households, 1,000 and 20,000 lives, the
optimum) are in ``benchmarks/bench_rl.py``; this is the small-budget regression check
that the recipe still learns: one seed, the example household, 4,096 held-out lives.

The bar is the Merton-style rule (``versus_rule``), and every rule of thumb: the optimum
is left out (``include_optimum=False``). The gate of a stored evaluation includes the
optimum, and where the dynamic programme is exact a trained policy need not beat it;
that is not what "the recipe learns" means.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from household_support import RETIREE_JSON as RETIREE

from glidepath.engine.cashflows import build_schedule
from glidepath.engine.strategies import MertonRule
from glidepath.household.convert import household_from_json
from glidepath.household.model import AnnuityOffer
from glidepath.rl.evaluation import evaluate_policy
from glidepath.rl.households import example_household
from glidepath.rl.model_io import load_policy
from glidepath.rl.training import TrainingSpec, train


def test_one_thousand_lives_beat_the_rule_on_held_out_lives() -> None:
    household = example_household()
    model = train(TrainingSpec(household, 1000, seed=1), lambda _: None, lambda: False)
    result = evaluate_policy(
        household, load_policy(model.model_zip), lives=4096, seed=2024, include_optimum=False
    )
    versus_rule = result.versus_rule
    assert versus_rule.difference > 2 * versus_rule.standard_error
    assert versus_rule.difference > 10.0  # a year, in today's money: not a rounding effect
    assert result.best_baseline == MertonRule.for_schedule(build_schedule(household)).name
    # Without a spending floor the floor-and-upside rule decides as the Merton rule does.
    merton, floor_upside = result.by_name("merton"), result.by_name("floor_upside")
    assert floor_upside.ce_consumption == pytest.approx(merton.ce_consumption, rel=1e-9)
    assert result.passed_gate  # against every rule of thumb, floor_upside included


def test_one_thousand_lives_learn_to_buy_the_annuity_a_floor_needs() -> None:
    """The retiree of examples/retiree.json with an essential floor at 80 % of spending
    and an annuity offer: the rules that do not buy fall below the floor in most lives;
    the trained policy learns to annuitise (the third action) and beats every rule that
    does not buy by far more than 2 paired standard errors."""
    base = household_from_json(RETIREE.read_text())
    household = replace(
        base,
        annuities=AnnuityOffer(),
        goals=replace(base.goals, essential_fraction=0.8),
    )
    model = train(TrainingSpec(household, 1000, seed=1), lambda _: None, lambda: False)
    result = evaluate_policy(
        household, load_policy(model.model_zip), lives=4096, seed=2024, include_optimum=False
    )
    policy = result.by_name("rl_policy").ce_consumption
    floor_upside = result.by_name("floor_upside").ce_consumption
    # The rule it corrects, which never buys: beaten by a tenth and by far more than noise.
    versus_floor = result.versus("floor_upside")
    assert policy > 1.1 * floor_upside
    assert versus_floor.difference > 2 * versus_floor.standard_error
    assert result.versus_rule.difference > 2 * result.versus_rule.standard_error
    # It comes within 3 % of the rule built to buy the floor's annuity, or beats it.
    assert policy > 0.97 * result.by_name("floor_annuity").ce_consumption
