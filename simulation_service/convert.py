"""Translation between the simulation contract and the engine, with field-level errors.

Requests become engine arguments (a validated household, strategy names, a
``SimulationSettings``); every bad field is reported at once, named by its path in the
request (``settings.paths``, ``strategies[2]``), so a client can fix them all in one go.
Engine results become response messages. Nothing here runs a simulation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from glidepath.common.v1 import household_pb2
from glidepath.engine.market import BLOCK_PATHS
from glidepath.engine.metrics import (
    DEFAULT_PERCENTILES,
    ClaimStats,
    Estimate,
    LifetimeStats,
    PercentileBands,
)
from glidepath.engine.metrics import StrategyMetrics as EngineMetrics
from glidepath.engine.run import (
    DEFAULT_BATCH_PATHS,
    MAX_STRATEGIES,
    ComparisonResult,
    SimulationSettings,
)
from glidepath.engine.strategies import (
    ANNUITY_STRATEGIES,
    CLAIMING_STRATEGIES,
    STRATEGIES,
    has_claiming,
    simplified_applies,
    strategies_for,
    unknown_strategy,
)
from glidepath.engine.strategies import optimum_applies as optimum_available
from glidepath.errors import FieldViolation, InvalidArgument
from glidepath.household.convert import household_from_proto
from glidepath.household.model import Household
from glidepath.household.plausibility import warnings
from glidepath.household.validation import listed
from glidepath.simulation.v1 import simulation_pb2 as pb
from glidepath.text import clip
from simulation_service.config import SimulationServiceSettings

OWN_PLAN = "own_plan"
OPTIMUM = "optimum"
DP_SIMPLIFIED = "dp_simplified"
MAX_PERCENTILES = 20

_TARGET_METRICS = {
    pb.TARGET_METRIC_UNSPECIFIED: "ce",
    pb.TARGET_METRIC_CERTAINTY_EQUIVALENT: "ce",
    pb.TARGET_METRIC_SUCCESS_PROBABILITY: "success",
}
_TARGET_METRIC_TO_PB = {
    "ce": pb.TARGET_METRIC_CERTAINTY_EQUIVALENT,
    "success": pb.TARGET_METRIC_SUCCESS_PROBABILITY,
}


@dataclass(frozen=True)
class Job:
    """One request, ready for the engine: what to simulate and how."""

    household: Household
    strategies: tuple[str, ...]
    settings: SimulationSettings


# --------------------------------------------------------------------------- requests


def household(message: household_pb2.Household, present: bool) -> Household:
    """The validated domain household; a missing one is a field error, not a crash."""
    if not present:
        raise InvalidArgument.field("household", "required")
    return household_from_proto(message)


def simulate_job(request: pb.SimulateRequest, limits: SimulationServiceSettings) -> Job:
    """Simulate's request as a job; InvalidArgument lists every bad field."""
    problems: list[FieldViolation] = []
    name = request.strategy or OWN_PLAN
    h = _household_or_collect(request, problems)
    if name not in STRATEGIES:
        problems.append(FieldViolation("strategy", _unknown(name)))
    elif name in (OPTIMUM, DP_SIMPLIFIED) and h is not None:
        ok, reason = (optimum_available if name == OPTIMUM else simplified_applies)(h)
        if not ok:
            problems.append(FieldViolation("strategy", reason))
    elif name in ANNUITY_STRATEGIES and h is not None and h.annuities is None:
        problems.append(FieldViolation("strategy", _no_offer(name)))
    elif name in CLAIMING_STRATEGIES and h is not None and not has_claiming(h):
        problems.append(FieldViolation("strategy", _no_window(name)))
    settings = _settings(request.settings, limits, problems)
    _raise_if(problems)
    assert h is not None and settings is not None
    return Job(h, (name,), settings)


def compare_job(request: pb.CompareRequest, limits: SimulationServiceSettings) -> Job:
    """Compare's request as a job; empty strategies means every baseline (+ the optimum)."""
    problems: list[FieldViolation] = []
    h = _household_or_collect(request, problems)
    names = tuple(request.strategies)
    if not names and h is not None:
        names = default_strategies(h)
    problems.extend(strategy_problems(names))
    if h is not None and h.annuities is None:
        problems.extend(
            FieldViolation(f"strategies[{i}]", _no_offer(n))
            for i, n in enumerate(names)
            if n in ANNUITY_STRATEGIES
        )
    if h is not None and not has_claiming(h):
        problems.extend(
            FieldViolation(f"strategies[{i}]", _no_window(n))
            for i, n in enumerate(names)
            if n in CLAIMING_STRATEGIES
        )
    settings = _settings(request.settings, limits, problems)
    _raise_if(problems)
    assert h is not None and settings is not None
    return Job(h, names, settings)


def default_strategies(h: Household) -> tuple[str, ...]:
    """Every built-in strategy that applies, the optimum only where it can be computed,
    dp_simplified (the DP of the simplified model) wherever returns switch between
    regimes (in place of the optimum where they are hidden; beside the exact regime DP
    where they are observable, showing what ignoring them costs) or an annuity offer is
    open every year, the annuity baselines only where the household has an annuity offer
    and the claiming baselines only where a pension has a claiming window."""
    references = tuple(
        name
        for name, applies in ((OPTIMUM, optimum_available), (DP_SIMPLIFIED, simplified_applies))
        if applies(h)[0]
    )
    return (*strategies_for(h), *references)


def _no_offer(name: str) -> str:
    return (
        f"{name!r} buys annuities, but the household has no annuity offer: "
        "give household.annuities, or choose another strategy"
    )


def _no_window(name: str) -> str:
    return (
        f"{name!r} chooses when to claim pensions, but no pension of the household has a "
        "claiming window: give household.incomes[i].claiming, or choose another strategy"
    )


def strategy_problems(names: Sequence[str]) -> list[FieldViolation]:
    """Unknown, repeated or too many strategy names, each named by its index."""
    problems: list[FieldViolation] = []
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name not in STRATEGIES:
            problems.append(FieldViolation(f"strategies[{i}]", _unknown(name)))
        elif name in seen:
            problems.append(FieldViolation(f"strategies[{i}]", f"{clip(name)!r} is listed twice"))
        seen.add(name)
    if len(names) > MAX_STRATEGIES:
        problems.append(
            FieldViolation("strategies", f"at most {MAX_STRATEGIES} strategies, got {len(names)}")
        )
    return problems


def _settings(
    m: pb.SimulationSettings, limits: SimulationServiceSettings, problems: list[FieldViolation]
) -> SimulationSettings | None:
    before = len(problems)
    paths = m.paths if m.HasField("paths") else limits.default_paths
    _check_paths("settings.paths", paths, limits, problems)
    adaptive = m.HasField("target_standard_error")
    target = m.target_standard_error if adaptive else None
    if adaptive and not (math.isfinite(m.target_standard_error) and m.target_standard_error > 0):
        problems.append(FieldViolation("settings.target_standard_error", "must be finite and > 0"))
    if m.target_metric not in _TARGET_METRICS:
        problems.append(FieldViolation("settings.target_metric", "unknown metric"))
    elif m.target_metric != pb.TARGET_METRIC_UNSPECIFIED and not adaptive:
        problems.append(FieldViolation("settings.target_metric", "only with target_standard_error"))
    if m.HasField("max_paths"):
        if not adaptive:
            problems.append(FieldViolation("settings.max_paths", "only with target_standard_error"))
        elif m.max_paths < paths:
            problems.append(
                FieldViolation(
                    "settings.max_paths", f"must be >= paths ({paths}), got {m.max_paths}"
                )
            )
        else:
            _check_paths("settings.max_paths", m.max_paths, limits, problems)
        max_paths = m.max_paths
    else:
        max_paths = min(max(paths, limits.adaptive_max_paths), limits.max_paths)
    percentiles = _percentiles(m.percentiles, problems)
    if len(problems) > before:
        return None
    return SimulationSettings(
        paths=paths,
        seed=m.seed,
        percentiles=percentiles,
        target_standard_error=target,
        target_metric=_TARGET_METRICS.get(m.target_metric, "ce"),
        max_paths=max_paths,
        batch_paths=adaptive_batch(paths) if adaptive else DEFAULT_BATCH_PATHS,
    )


def adaptive_batch(paths: int) -> int:
    """Batch size in adaptive mode: ``paths`` rounded up to whole blocks, at most the default.

    The engine checks the standard error after ``paths`` and then after every batch;
    batches of about ``paths`` (whole blocks of 1,024, the unit of the common random
    numbers) keep a small request's checks as frequent as its first one, so it stops
    close to the target instead of overshooting by a default 32,768-path batch.
    """
    blocks = -(-paths // BLOCK_PATHS)
    return min(blocks * BLOCK_PATHS, DEFAULT_BATCH_PATHS)


def _check_paths(
    field: str, value: int, limits: SimulationServiceSettings, problems: list[FieldViolation]
) -> None:
    if value < 1:
        problems.append(FieldViolation(field, f"must be >= 1, got {value}"))
    elif value > limits.max_paths:
        problems.append(
            FieldViolation(
                field,
                f"at most {limits.max_paths:,} paths (SIMULATION_MAX_PATHS), got {value:,}; "
                "use fewer paths or adaptive mode with a target standard error",
            )
        )


def _percentiles(values: Sequence[float], problems: list[FieldViolation]) -> tuple[float, ...]:
    if not values:
        return DEFAULT_PERCENTILES
    if len(values) > MAX_PERCENTILES:
        problems.append(
            FieldViolation("settings.percentiles", f"at most {MAX_PERCENTILES}, got {len(values)}")
        )
    seen: set[float] = set()
    for i, p in enumerate(values):
        if not (math.isfinite(p) and 0.0 < p < 100.0):
            problems.append(
                FieldViolation(
                    f"settings.percentiles[{i}]",
                    f"must be in (0, 100), in percent points (5 = the 5th percentile), got {p}",
                )
            )
        elif p in seen:
            problems.append(FieldViolation(f"settings.percentiles[{i}]", f"{p} is listed twice"))
        seen.add(p)
    return tuple(float(p) for p in values)


def _household_or_collect(
    request: pb.SimulateRequest | pb.CompareRequest, problems: list[FieldViolation]
) -> Household | None:
    try:
        return household(request.household, request.HasField("household"))
    except InvalidArgument as error:
        problems.extend(error.violations)
        return None


def _unknown(name: str) -> str:
    return unknown_strategy(name)


def _raise_if(problems: list[FieldViolation]) -> None:
    if problems:
        raise InvalidArgument(listed(problems))


# --------------------------------------------------------------------------- results


def estimate(e: Estimate) -> pb.Estimate:
    return pb.Estimate(value=e.value, standard_error=e.standard_error)


def profile(bands: PercentileBands) -> pb.AgeProfile:
    return pb.AgeProfile(
        ages=bands.ages,
        means=bands.means,
        paths_by_age=bands.n_by_age,
        bands=[
            pb.PercentileBand(percentile=p, values=values, standard_errors=errors)
            for p, values, errors in zip(
                bands.percentiles, bands.values, bands.standard_errors, strict=True
            )
        ],
    )


def strategy_result(
    metrics: EngineMetrics, result: ComparisonResult, household: Household
) -> pb.StrategyResult:
    """One strategy's metrics; paired figures come from the run's paired comparisons."""
    terminal = metrics.terminal
    message = pb.StrategyResult(
        strategy=metrics.name,
        paths=metrics.n_paths,
        certainty_equivalent=estimate(metrics.certainty_equivalent),
        success_probability=estimate(metrics.success_probability),
        ruin_probability=estimate(metrics.ruin_probability),
        terminal_wealth=pb.TerminalWealth(
            mean=estimate(terminal.mean),
            percentiles=[
                pb.PercentileValue(percentile=p, value=estimate(e))
                for p, e in terminal.percentiles.items()
            ],
            probability_depleted=estimate(terminal.prob_depleted),
            mean_worst_5_percent=estimate(terminal.mean_worst),
            mean_nominal=estimate(terminal.mean_nominal),
        ),
        shortfall=pb.Shortfall(
            mean_lifetime=estimate(metrics.shortfall.mean_total),
            mean_per_retirement_year=estimate(metrics.shortfall.mean_per_retirement_year),
            probability_any=estimate(metrics.shortfall.prob_any),
        ),
        wealth=profile(metrics.wealth),
        consumption=profile(metrics.consumption),
        mean_utility=estimate(metrics.mean_utility),
        seconds=metrics.seconds,
    )
    if metrics.lifetimes is not None:
        message.lifetimes.CopyFrom(lifetime_outcomes(metrics.lifetimes))
    if metrics.annuities is not None:
        message.annuities.CopyFrom(
            pb.AnnuityPurchases(
                premium=estimate(metrics.annuities.premium),
                probability=estimate(metrics.annuities.probability),
            )
        )
    message.claims.extend(pension_claims(c, household) for c in metrics.claims)
    if metrics.goal_probability is not None:
        message.capital_goal_probability.CopyFrom(estimate(metrics.goal_probability))
    for paired in result.paired:
        if paired.strategy != metrics.name:
            continue
        message.versus.CopyFrom(
            pb.PairedComparison(
                baseline=paired.baseline,
                ce_difference=estimate(paired.difference),
                ce_ratio=estimate(paired.ratio),
            )
        )
        if paired.baseline == OPTIMUM:
            message.share_of_optimum.CopyFrom(estimate(paired.ratio))
        elif paired.baseline == DP_SIMPLIFIED:
            message.share_of_simplified.CopyFrom(estimate(paired.ratio))
    itself = pb.Estimate(value=1.0, standard_error=0.0)
    if metrics.name == OPTIMUM:
        message.share_of_optimum.CopyFrom(itself)
    elif metrics.name == DP_SIMPLIFIED and not message.HasField("share_of_optimum"):
        message.share_of_simplified.CopyFrom(itself)  # the reference itself
    return message


def pension_claims(stats: ClaimStats, household: Household) -> pb.PensionClaims:
    message = pb.PensionClaims(
        income=stats.income,
        label=household.incomes[stats.income].label,
        default_age=stats.default_age,
        first_age=stats.first_age,
        share_at_age=[estimate(e) for e in stats.at_age],
        died_before_claiming=estimate(stats.died_first),
        mean_age=estimate(stats.mean_age),
    )
    if stats.median_age is not None:
        message.median_age = stats.median_age
    return message


def lifetime_outcomes(stats: LifetimeStats) -> pb.LifetimeOutcomes:
    message = pb.LifetimeOutcomes(
        years_lived=estimate(stats.years_lived),
        years_without_money=estimate(stats.years_without_money),
        spending_certainty_equivalent=estimate(stats.spending_ce),
        per_adult=[
            pb.AgeCounts(first_age=stats.first_death_age, paths_at_age=row)
            for row in stats.death_ages
        ],
    )
    if stats.last_death_ages:
        message.last_death.CopyFrom(
            pb.AgeCounts(first_age=stats.first_death_age, paths_at_age=stats.last_death_ages)
        )
    if stats.below_floor_probability is not None:
        message.below_floor_probability.CopyFrom(estimate(stats.below_floor_probability))
    if stats.years_below_floor is not None:
        message.years_below_floor.CopyFrom(estimate(stats.years_below_floor))
    return message


def run_info(result: ComparisonResult, settings: SimulationSettings) -> pb.RunInfo:
    message = pb.RunInfo(
        paths=result.n_paths,
        seed=result.seed,
        converged=result.converged,
        target_metric=_TARGET_METRIC_TO_PB[settings.target_metric],
        percentiles=settings.percentiles,
        seconds=result.seconds,
    )
    if result.target_standard_error is not None:
        message.target_standard_error = result.target_standard_error
    return message


def optimum_info(result: ComparisonResult) -> pb.OptimumInfo:
    message = pb.OptimumInfo(available=result.optimum_available, reason=result.optimum_reason)
    if result.optimum_value_ce is not None:
        message.value_certainty_equivalent = result.optimum_value_ce
    return message


def field_warnings(household: Household) -> list[pb.FieldWarning]:
    """The household's legal but implausible values (``glidepath.household.plausibility``)."""
    return [pb.FieldWarning(field=w.field, message=w.message) for w in warnings(household)]


def simulate_response(
    result: ComparisonResult, job: Job, household_hash: str
) -> pb.SimulateResponse:
    (metrics,) = result.strategies
    return pb.SimulateResponse(
        household_hash=household_hash,
        result=strategy_result(metrics, result, job.household),
        run=run_info(result, job.settings),
        optimum=optimum_info(result),
        warnings=field_warnings(job.household),
    )


def compare_response(result: ComparisonResult, job: Job, household_hash: str) -> pb.CompareResponse:
    return pb.CompareResponse(
        household_hash=household_hash,
        results=[strategy_result(m, result, job.household) for m in result.strategies],
        run=run_info(result, job.settings),
        optimum=optimum_info(result),
        skipped=[pb.SkippedStrategy(strategy=n, reason=r) for n, r in result.skipped.items()],
        warnings=field_warnings(job.household),
    )
