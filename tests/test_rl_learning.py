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

import pytest

from glidepath.engine.cashflows import build_schedule
from glidepath.engine.strategies import MertonRule
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
