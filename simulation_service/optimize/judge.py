"""Judge a policy against every other strategy, apply the gate, describe the recommendation.

Why one engine run: the policy, the rules of thumb and the optimum (where it exists) meet
the very same scenarios (common random numbers), exactly as Compare runs them, so their
differences are not Monte Carlo noise and the comparison a person reads is the one the
gate used. The gate is ``glidepath.rl.gate``'s, the one the training service stores: the
policy is recommended only when its CE beats the best other strategy's (the optimum
included) by more than 2 paired standard errors; otherwise that best other strategy is
recommended, and the answer says in one sentence which won and by how much.

The recommended strategy "by age" is read from a rollout of that strategy on the first
``profile_paths`` of the same scenarios: each year's median stock share, savings or
withdrawal (in money and as a rate) and consumption; the household's own plan is read
the same way from the same lives, and its CE set against the recommendation's (paired),
so that the answer can say "save X instead of Y" and what the change is worth.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from glidepath.common.v1 import model_pb2
from glidepath.engine.cashflows import build_schedule
from glidepath.engine.objective import Objective
from glidepath.engine.result_cache import BASELINE_RESULTS
from glidepath.engine.rollout import Rollout, rollout
from glidepath.engine.run import ComparisonResult, SimulationSettings, simulate
from glidepath.engine.strategies import Strategy
from glidepath.household.model import Household
from glidepath.rl.evaluation_message import evaluation_message
from glidepath.rl.gate import (
    DP_SIMPLIFIED,
    GATE_STANDARD_ERRORS,
    OPTIMUM,
    OWN_PLAN,
    POLICY,
    GateResult,
    gate,
    other_strategies,
    paired_difference,
)
from glidepath.rl.gate import sentence as gate_sentence
from glidepath.simulation.v1 import simulation_pb2 as pb
from simulation_service import convert
from simulation_service.work import StopToken

if TYPE_CHECKING:
    from stable_baselines3.common.policies import ActorCriticPolicy

DEFAULT_PROFILE_PATHS = 2_000


@dataclass(frozen=True)
class Judgement:
    """What the engine said: the comparison, the gate, the recommendation, and how long."""

    comparison: pb.CompareResponse
    gate: pb.GateVerdict
    recommended: pb.RecommendedStrategy
    evaluation_seconds: float
    profile_seconds: float
    # True when served from the judgement cache (``memo``): nothing was recomputed.
    cached: bool = False
    # The policy against the best rule of thumb alone (the dynamic-programming references
    # left out), paired on the same lives: what the ladder asks of a model trained for
    # another household (simulation_service/optimize/flow.py, docs/ladder.md).
    versus_rules: pb.GateVerdict | None = None

    # The policy's evaluation on these lives in the registry's form (seed: the run's),
    # from the same run: where the lives are a hash's evaluation lives it is that
    # model's score, so nothing need score it again (``simulation_service.app``). None
    # in adaptive mode (the lives a run takes depend on the strategies).
    evaluation: model_pb2.ModelEvaluation | None = None

    @property
    def beats_the_rules(self) -> bool:
        return self.versus_rules is not None and self.versus_rules.passed


def judge(
    household: Household,
    household_hash: str,
    policy: ActorCriticPolicy,
    settings: SimulationSettings,
    stop: StopToken,
    profile_paths: int = DEFAULT_PROFILE_PATHS,
) -> Judgement:
    """Run the policy and every other strategy on the same scenarios; gate; profile the
    recommended strategy."""
    from glidepath.rl.evaluation import evaluation_of
    from glidepath.rl.policy_strategy import PolicyStrategy

    candidate = PolicyStrategy(policy, build_schedule(household), POLICY)
    others = other_strategies(household)
    began = time.perf_counter()
    result = simulate(
        household,
        [candidate, *others],
        replace(settings, keep_path_utilities=True, should_stop=stop),
        cache=BASELINE_RESULTS,
    )
    evaluation_seconds = time.perf_counter() - began
    verdict = gate_of(household, result, others)
    rules = gate_of(household, result, [o for o in others if o not in (OPTIMUM, DP_SIMPLIFIED)])
    job = convert.Job(household, (POLICY, *others), settings)
    comparison = convert.compare_response(_without_path_utilities(result), job, household_hash)
    began = time.perf_counter()
    chosen: Strategy | str = candidate if verdict.passed else verdict.best_other
    lives = min(profile_paths, result.n_paths)
    profile = rollout(household, chosen, lives, seed=settings.seed, timing=settings.timing)
    own = rollout(household, OWN_PLAN, lives, seed=settings.seed, timing=settings.timing)
    gain, gain_error = gain_over_own_plan(household, result, verdict.recommended)
    recommended = pb.RecommendedStrategy(
        strategy=verdict.recommended,
        is_trained_policy=verdict.passed,
        reason=gate_sentence(verdict),
        years=year_decisions(profile, result.schedule.retired),
        paths=lives,
        own_plan_years=year_decisions(own, result.schedule.retired),
        gain_over_own_plan=pb.Estimate(value=gain, standard_error=gain_error),
    )
    evaluation = None
    if settings.target_standard_error is None:
        evaluation = evaluation_message(
            evaluation_of(household, POLICY, others, result), settings.seed
        )
    return Judgement(
        comparison,
        gate_message(verdict),
        recommended,
        evaluation_seconds,
        time.perf_counter() - began,
        versus_rules=gate_message(rules),
        evaluation=evaluation,
    )


def gate_of(household: Household, result: ComparisonResult, others: Sequence[str]) -> GateResult:
    """The policy against the best of ``others`` (highest CE), paired path by path."""
    utilities = {
        m.name: m.path_utilities for m in result.strategies if m.path_utilities is not None
    }
    ces = {m.name: m.certainty_equivalent.value for m in result.strategies}
    objective = Objective.for_schedule(build_schedule(household))
    return gate(objective, POLICY, ces, utilities, others)


def gain_over_own_plan(
    household: Household, result: ComparisonResult, recommended: str
) -> tuple[float, float]:
    """(CE of ``recommended`` minus own_plan's, its paired SE): what following the advice
    is worth to the household over its own plan, on the gate's lives (0, 0 when the
    advice is the own plan)."""
    if recommended == OWN_PLAN:
        return 0.0, 0.0
    utilities = {
        m.name: m.path_utilities for m in result.strategies if m.path_utilities is not None
    }
    objective = Objective.for_schedule(build_schedule(household))
    return paired_difference(objective, utilities[recommended], utilities[OWN_PLAN])


def gate_message(verdict: GateResult) -> pb.GateVerdict:
    """``GateVerdict`` of the domain's verdict."""
    return pb.GateVerdict(
        passed=verdict.passed,
        best_baseline=verdict.best_other,
        improvement=pb.Estimate(value=verdict.difference, standard_error=verdict.standard_error),
        standard_errors_required=GATE_STANDARD_ERRORS,
        lives=verdict.lives,
    )


def _without_path_utilities(result: ComparisonResult) -> ComparisonResult:
    """The per-path arrays served the gate; the response carries summaries only."""
    return replace(
        result, strategies=tuple(replace(m, path_utilities=None) for m in result.strategies)
    )


def year_decisions(profile: Rollout, retired: tuple[bool, ...]) -> list[pb.YearDecision]:
    """Each year's medians over the lives still running (each column on its own): under
    mortality a life that is over decides nothing, and its zeros would drag every median
    down as the household ages."""
    rows: list[pb.YearDecision] = []
    for t, is_retired in enumerate(retired):
        running = profile.lived[t]
        wealth = profile.wealth[t][running]
        flow = profile.net_flow[t][running]
        consumption = profile.consumption[t][running]
        disposable = consumption + flow  # net_flow = disposable - consumption
        row = pb.YearDecision(
            age=profile.ages[t],
            retired=is_retired,
            stock_share=_median(profile.stock_share[t][running]),
            consumption=_median(consumption),
            wealth=_median(wealth),
            lives_running=float(running.mean()),
        )
        if is_retired:
            withdrawal = np.maximum(-flow, 0.0)
            row.withdrawal = _median(withdrawal)
            row.withdrawal_rate = _median(_ratio(withdrawal, wealth))
        else:
            row.savings = _median(flow)
            row.savings_rate = _median(_ratio(flow, disposable))
        rows.append(row)
    return rows


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
    """numerator / denominator where the denominator is positive, NaN elsewhere."""
    out = np.full(numerator.shape, np.nan)
    positive = denominator > 0
    out[positive] = numerator[positive] / denominator[positive]
    return out


def _median(values: np.ndarray) -> float:  # type: ignore[type-arg]
    """The median ignoring NaN; 0 when every value is NaN (e.g. no wealth left anywhere)
    or there is none (no life running)."""
    if values.size == 0:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = float(np.nanmedian(values))
    return median if np.isfinite(median) else 0.0
