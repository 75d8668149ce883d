"""Evaluation: the gate, paired differences, and the policy as an engine strategy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from rl_support import small_household, tiny_model

from glidepath.engine.cashflows import build_schedule
from glidepath.engine.objective import Objective
from glidepath.engine.run import SimulationSettings, simulate
from glidepath.engine.strategies import MertonRule, Strategy
from glidepath.household.canonical import canonicalize
from glidepath.rl.evaluation import evaluate, evaluate_strategy
from glidepath.rl.gate import BASELINES, OPTIMUM, paired_difference, passes_gate
from glidepath.rl.model_io import build_policy, load_policy
from glidepath.rl.policy_strategy import PolicyStrategy


@pytest.mark.parametrize(
    ("improvement", "se", "passed"),
    [
        (10.0, 4.9, True),
        (10.0, 5.0, False),  # exactly 2 SE is not enough
        (10.0, 6.0, False),
        (0.0, 0.0, False),  # identical to the baseline
        (-3.0, 1.0, False),
        (math.nan, 1.0, False),
        (1.0, math.nan, False),
    ],
)
def test_the_gate_needs_more_than_two_paired_standard_errors(
    improvement: float, se: float, passed: bool
) -> None:
    assert passes_gate(improvement, se) is passed


def test_paired_difference_cancels_common_luck() -> None:
    objective = Objective(horizon=10, scale=1.0, capital_goal=0.0, gamma=3.0)
    rng = np.random.default_rng(0)
    luck = rng.normal(-5.0, 1.0, 50_000)  # large common part
    a = luck + rng.normal(0.01, 0.001, 50_000)
    diff, se = paired_difference(objective, a, luck)
    unpaired = objective.ce_standard_error(objective.certainty_equivalent(float(a.mean())), 1.0)
    assert diff > 0
    assert se < 0.01 * unpaired * luck.std() / math.sqrt(50_000)
    same, zero = paired_difference(objective, luck, luck)
    assert same == 0.0 and zero == 0.0


def _zero_policy_strategy() -> PolicyStrategy:
    policy = build_policy()
    with torch.no_grad():
        for parameter in policy.action_net.parameters():
            parameter.zero_()
    return PolicyStrategy(policy, build_schedule(small_household()), name="zero_policy")


def test_a_policy_plugs_into_the_engine_and_zero_corrections_are_the_rule() -> None:
    household = small_household()
    zero: Strategy = _zero_policy_strategy()
    assert isinstance(zero, Strategy)
    merton = MertonRule.for_schedule(build_schedule(household))
    result = simulate(
        household,
        [zero, merton],
        SimulationSettings(paths=2048, seed=4, keep_path_utilities=True),
    )
    u_zero = result.by_name("zero_policy").path_utilities
    u_rule = result.by_name("merton").path_utilities
    assert u_zero is not None and u_rule is not None
    np.testing.assert_allclose(u_zero, u_rule, rtol=1e-12)


def test_a_trained_policy_is_evaluated_in_the_engine_like_any_baseline() -> None:
    household = small_household()
    strategy = PolicyStrategy(load_policy(tiny_model().model_zip), build_schedule(household))
    result = simulate(household, [strategy, "merton", "vpw"], SimulationSettings(paths=1024))
    assert {m.name for m in result.strategies} == {"rl_policy", "merton", "vpw"}
    assert all(np.isfinite(m.certainty_equivalent.value) for m in result.strategies)


def test_the_rule_as_candidate_ties_with_itself_and_does_not_pass() -> None:
    household = small_household()
    merton = MertonRule.for_schedule(build_schedule(household))
    renamed = MertonRule(merton.pi_star, merton.log_b, merton.goal_weight, name="candidate")
    result = evaluate_strategy(household, renamed, lives=2048, seed=1, include_optimum=False)
    assert result.versus_rule.difference == pytest.approx(0.0, abs=1e-9)
    assert not result.passed_gate or result.best_baseline != "merton"
    assert {s.strategy for s in result.strategies} == {"candidate", *BASELINES}
    best = max(
        (s for s in result.strategies if s.strategy in BASELINES), key=lambda s: s.ce_consumption
    )
    assert result.best_baseline == best.strategy


def test_evaluate_reports_every_strategy_the_optimum_and_the_gate() -> None:
    household = canonicalize(small_household())
    result = evaluate(household, tiny_model().model_zip, lives=2048, seed=77)
    names = [s.strategy for s in result.strategies]
    assert names == ["rl_policy", *BASELINES, OPTIMUM]
    assert result.held_out_lives == 2048
    assert result.score == result.by_name("rl_policy").ce_consumption
    best = result.by_name(result.best_baseline)
    # The best OTHER strategy: the optimum is in the gate, not a reference beside it.
    assert best.ce_consumption == max(s.ce_consumption for s in result.strategies[1:])
    assert result.improvement == pytest.approx(result.score - best.ce_consumption, rel=1e-9)
    assert result.improvement_standard_error > 0
    assert result.passed_gate == (result.improvement > 2 * result.improvement_standard_error)
    assert result.optimum_ce_consumption is not None  # deterministic flows: DP exists
    for s in result.strategies:
        assert s.ce_share_of_optimum == pytest.approx(
            s.ce_consumption / result.optimum_ce_consumption
        )
        assert 0.0 <= s.success_probability <= 1.0
        assert 0.0 <= s.capital_goal_probability <= 1.0


def test_the_numpy_actor_matches_torchs_mean_action() -> None:
    from glidepath.rl.observations import OBS_HIGH, OBS_LOW
    from glidepath.rl.policy_strategy import mean_actions

    policy = load_policy(tiny_model().model_zip)
    strategy = PolicyStrategy(policy, build_schedule(small_household()))
    rng = np.random.default_rng(1)
    obs = rng.uniform(OBS_LOW, OBS_HIGH, (4096, OBS_LOW.shape[0])).astype(np.float32)
    np.testing.assert_allclose(strategy.actions(obs), mean_actions(policy, obs), atol=1e-5)


def test_the_candidate_is_paired_with_every_other_strategy() -> None:
    """A bench's bar may name its own baseline: the pairing with the best other is the
    gate's, with the rule the learning bar's, and a strategy not run is not invented."""
    household = small_household()
    merton = MertonRule.for_schedule(build_schedule(household))
    renamed = MertonRule(merton.pi_star * 0.5, merton.log_b, merton.goal_weight, name="candidate")
    result = evaluate_strategy(household, renamed, lives=2048, seed=1, include_optimum=False)
    assert {c.baseline for c in result.versus_others} == set(BASELINES)
    best = result.versus(result.best_baseline)
    assert best.difference == pytest.approx(result.improvement)
    assert best.standard_error == pytest.approx(result.improvement_standard_error)
    assert result.versus("merton") == result.versus_rule
    assert result.versus("vpw").difference != result.versus("merton").difference
    with pytest.raises(KeyError):
        result.versus("optimum")
