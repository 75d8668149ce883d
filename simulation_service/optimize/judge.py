"""Judge a policy against every baseline, apply the gate, and describe the recommendation.

Why one engine run: the policy, the six rules of thumb and the optimum (where it exists)
meet the very same scenarios (common random numbers), exactly as Compare runs them, so
their differences are not Monte Carlo noise and the comparison a person reads is the one
the gate used. The gate is the training issue's: the policy is recommended only when its
CE beats the best baseline's by more than 2 paired standard errors; otherwise the best
baseline is recommended, named as such.

The recommended strategy "by age" is read from a rollout of that strategy on the first
``profile_paths`` of the same scenarios: each year's median stock share, savings or
withdrawal (in money and as a rate) and consumption.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from glidepath.engine.cashflows import build_schedule
from glidepath.engine.objective import Objective
from glidepath.engine.rollout import Rollout, rollout
from glidepath.engine.run import ComparisonResult, SimulationSettings, simulate
from glidepath.engine.strategies import Strategy
from glidepath.household.model import Household
from glidepath.simulation.v1 import simulation_pb2 as pb
from simulation_service import convert
from simulation_service.work import StopToken

if TYPE_CHECKING:
    from stable_baselines3.common.policies import ActorCriticPolicy

POLICY = "rl_policy"
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


def judge(
    household: Household,
    household_hash: str,
    policy: ActorCriticPolicy,
    settings: SimulationSettings,
    stop: StopToken,
    profile_paths: int = DEFAULT_PROFILE_PATHS,
) -> Judgement:
    """Run the policy and every baseline on the same scenarios; gate; profile the winner."""
    from glidepath.rl.evaluation import BASELINES
    from glidepath.rl.policy_strategy import PolicyStrategy

    candidate = PolicyStrategy(policy, build_schedule(household), POLICY)
    names = (POLICY, *BASELINES, *_optimum(household))
    began = time.perf_counter()
    result = simulate(
        household,
        [candidate, *names[1:]],
        replace(settings, keep_path_utilities=True, should_stop=stop),
    )
    evaluation_seconds = time.perf_counter() - began
    gate = gate_verdict(household, result, BASELINES)
    job = convert.Job(household, names, settings)
    comparison = convert.compare_response(_without_path_utilities(result), job, household_hash)
    began = time.perf_counter()
    chosen: Strategy | str = candidate if gate.passed else gate.best_baseline
    lives = min(profile_paths, result.n_paths)
    profile = rollout(household, chosen, lives, seed=settings.seed, timing=settings.timing)
    recommended = pb.RecommendedStrategy(
        strategy=POLICY if gate.passed else gate.best_baseline,
        is_trained_policy=gate.passed,
        reason=_reason(gate),
        years=year_decisions(profile, result.schedule.retired),
        paths=lives,
    )
    return Judgement(comparison, gate, recommended, evaluation_seconds, time.perf_counter() - began)


def _optimum(household: Household) -> tuple[str, ...]:
    from glidepath.engine.optimum import optimum_available

    available, _ = optimum_available(household)
    return (convert.OPTIMUM,) if available else ()


def gate_verdict(
    household: Household, result: ComparisonResult, baselines: tuple[str, ...]
) -> pb.GateVerdict:
    """The policy against the best baseline (highest CE), paired path by path."""
    from glidepath.rl.evaluation import GATE_STANDARD_ERRORS, paired_difference, passes_gate

    utilities = {m.name: m.path_utilities for m in result.strategies}
    ces = {m.name: m.certainty_equivalent.value for m in result.strategies}
    best = max((b for b in baselines if b in ces), key=lambda b: ces[b])
    policy_u, best_u = utilities[POLICY], utilities[best]
    assert policy_u is not None and best_u is not None  # keep_path_utilities=True
    objective = Objective.for_schedule(build_schedule(household))
    improvement, se = paired_difference(objective, policy_u, best_u)
    return pb.GateVerdict(
        passed=passes_gate(improvement, se),
        best_baseline=best,
        improvement=pb.Estimate(value=improvement, standard_error=se),
        standard_errors_required=GATE_STANDARD_ERRORS,
        lives=result.n_paths,
    )


def _without_path_utilities(result: ComparisonResult) -> ComparisonResult:
    """The per-path arrays served the gate; the response carries summaries only."""
    return replace(
        result, strategies=tuple(replace(m, path_utilities=None) for m in result.strategies)
    )


def _reason(gate: pb.GateVerdict) -> str:
    figures = (
        f"{gate.improvement.value:+,.0f} ± {gate.improvement.standard_error:,.0f} a year of "
        f"certainty-equivalent consumption on {gate.lives:,} lives"
    )
    if gate.passed:
        return (
            f"the trained policy ({POLICY}) beat the best baseline ({gate.best_baseline}) by "
            f"more than {gate.standard_errors_required:g} paired standard errors ({figures})"
        )
    return (
        f"the trained policy did not beat the best baseline ({gate.best_baseline}) by more "
        f"than {gate.standard_errors_required:g} paired standard errors ({figures}); "
        f"recommending the best baseline, {gate.best_baseline}"
    )


def year_decisions(profile: Rollout, retired: tuple[bool, ...]) -> list[pb.YearDecision]:
    """Each year's medians over the paths (each column on its own)."""
    rows: list[pb.YearDecision] = []
    for t, is_retired in enumerate(retired):
        wealth = profile.wealth[t]
        flow = profile.net_flow[t]
        consumption = profile.consumption[t]
        disposable = consumption + flow  # net_flow = disposable - consumption
        row = pb.YearDecision(
            age=profile.ages[t],
            retired=is_retired,
            stock_share=_median(profile.stock_share[t]),
            consumption=_median(consumption),
            wealth=_median(wealth),
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
    """The median ignoring NaN; 0 when every value is NaN (e.g. no wealth left anywhere)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = float(np.nanmedian(values))
    return median if np.isfinite(median) else 0.0
