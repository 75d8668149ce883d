"""Optimize's judgement: the gate includes the optimum, and the answer names the winner.

The real engine judges an untrained policy (the Merton-style rule plus small random
corrections), which the optimum beats wherever it exists: the optimum is then the best
other strategy, it is recommended, its decisions by age are profiled (under mortality
too: the couple), and the reason is one sentence with the winner and the margin.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from simulation_support import EXAMPLE

from glidepath.cli.inputs import load_household
from glidepath.engine.run import SimulationSettings
from glidepath.household.convert import household_from_proto
from glidepath.household.model import Household, ReturnModel
from glidepath.rl.gate import BASELINES, OPTIMUM, POLICY
from glidepath.rl.model_io import build_policy
from simulation_service.optimize.judge import Judgement, judge
from simulation_service.work import WorkPool

COUPLE = EXAMPLE.parent / "couple.json"
PATHS = 1000
PROFILE_PATHS = 100


def _household(path: Path) -> Household:
    return household_from_proto(load_household(path).message)


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkPool]:
    running = WorkPool(1, 0)
    yield running
    running.shutdown()


def _judge(pool: WorkPool, household: Household) -> Judgement:
    return judge(
        household,
        "0123456789abcdef",
        build_policy(),
        SimulationSettings(paths=PATHS, seed=3),
        pool.token(None),
        profile_paths=PROFILE_PATHS,
    )


@pytest.mark.parametrize("path", [EXAMPLE, COUPLE], ids=["single", "couple"])
def test_the_optimum_beats_an_untrained_policy_and_is_recommended(
    pool: WorkPool, path: Path
) -> None:
    household = _household(path)
    judgement = _judge(pool, household)
    results = {r.strategy: r for r in judgement.comparison.results}
    assert list(results) == [POLICY, *BASELINES, OPTIMUM]
    gate = judgement.gate
    assert gate.best_baseline == OPTIMUM and not gate.passed
    assert (
        gate.best_baseline
        == max(
            (r for r in judgement.comparison.results if r.strategy != POLICY),
            key=lambda r: r.certainty_equivalent.value,
        ).strategy
    )
    recommended = judgement.recommended
    assert recommended.strategy == OPTIMUM and not recommended.is_trained_policy
    optimum_ce = results[OPTIMUM].certainty_equivalent.value
    margin = -gate.improvement.value
    head = (
        f"The exact optimum wins: {optimum_ce:,.0f} a year of certainty-equivalent consumption "
        "(spending and bequest), "
        f"{margin:,.0f} ± {gate.improvement.standard_error:,.0f} a year ("
    )
    tail = f" %) above the trained policy (rl_policy) on the same {PATHS:,} lives."
    reason = recommended.reason
    assert reason.startswith(head) and reason.endswith(tail), reason
    share = float(reason.removeprefix(head).removesuffix(tail))
    policy_ce = results[POLICY].certainty_equivalent.value
    assert share == pytest.approx(100 * margin / policy_ce, abs=0.05)
    # The optimum's decisions by age: one row a year of the plan, read from its rollout.
    years = recommended.years
    assert len(years) == len(results[OPTIMUM].consumption.ages) and recommended.paths == 100
    assert all(0.0 <= y.stock_share <= 1.0 for y in years)
    assert any(y.withdrawal > 0 for y in years if y.retired)


def test_without_an_optimum_the_best_rule_is_the_best_other(pool: WorkPool) -> None:
    single = _household(EXAMPLE)
    student = replace(single, market=replace(single.market, return_model=ReturnModel.STUDENT_T))
    judgement = _judge(pool, student)
    names = [r.strategy for r in judgement.comparison.results]
    assert names == [POLICY, *BASELINES]
    gate = judgement.gate
    ces = {r.strategy: r.certainty_equivalent.value for r in judgement.comparison.results}
    assert gate.best_baseline == max(BASELINES, key=lambda name: ces[name])
    recommended = judgement.recommended
    assert recommended.strategy == (POLICY if gate.passed else gate.best_baseline)
    assert f"the {gate.best_baseline} strategy" in recommended.reason.lower()
