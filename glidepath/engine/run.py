"""Run strategies side by side on the same scenarios: the simulation service's entry point.

Every strategy meets the same market (common random numbers): batch by batch, year by
year, one draw of returns is applied to every strategy. Paths are processed in batches
of ``batch_paths`` so memory stays bounded whatever the path count.

Adaptive mode (``target_standard_error`` set): after the first ``paths`` paths, batches
are added until the standard error of ``target_metric`` ("ce": certainty equivalent, in
money per year; "success": success probability) is at or below the target for every
strategy, or ``max_paths`` is reached; ``converged`` says which.

Limits (beyond them the request is refused, never run out of memory): at most
``MAX_PATHS`` paths, ``MAX_HORIZON`` years, ``MAX_STRATEGIES`` strategies and
``MAX_PATH_STRATEGIES`` paths x strategies (per-path values cost ~40 bytes each).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from glidepath.errors import Cancelled, InvalidArgument, ResourceExhausted
from glidepath.household.model import Household

from .cashflows import FloatArray, Schedule, build_schedule
from .lifetimes import draw_death_years
from .logmath import exp_or_inf
from .market import BLOCK_PATHS, Scenarios
from .metrics import DEFAULT_PERCENTILES, Estimate, MetricsAccumulator, StrategyMetrics
from .objective import Objective
from .result_cache import StrategyResults, household_digest, result_key
from .state import FlowTiming
from .step import initial_state, step
from .strategies import Strategy, make_strategy, optimum_applies, simplified_applies

MAX_PATHS = 2_000_000
MAX_HORIZON = 100
#: A household with an annuity offer and a claiming window is judged against 7 rules, 3
#: annuity and 2 claiming baselines and a reference, plus the candidate: 14. Memory is
#: bounded by MAX_PATH_STRATEGIES whatever this is.
MAX_STRATEGIES = 16
MAX_PATH_STRATEGIES = 8_000_000
DEFAULT_BATCH_PATHS = 32 * BLOCK_PATHS


@dataclass(frozen=True)
class SimulationSettings:
    paths: int = 10_000
    seed: int = 0
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES
    # Adaptive mode: the standard error wanted (CE: money per year; success: probability).
    target_standard_error: float | None = None
    target_metric: str = "ce"
    max_paths: int = 1_000_000
    batch_paths: int = DEFAULT_BATCH_PATHS
    timing: FlowTiming = FlowTiming.MONTHLY
    # Return each strategy's per-path lifetime utilities (for paired comparisons).
    keep_path_utilities: bool = False
    # Checked between years and batches; True stops the run with Cancelled.
    should_stop: Callable[[], bool] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class PairedDifference:
    """CE of ``strategy`` minus CE of ``baseline``, paired on the same paths."""

    strategy: str
    baseline: str
    difference: Estimate
    ratio: Estimate  # CE(strategy) / CE(baseline)


@dataclass(frozen=True)
class ScheduleSummary:
    """The household's cash flows by age: real; nominal ones deflated at mean inflation."""

    ages: tuple[int, ...]
    salary: tuple[float, ...]
    pensions: tuple[float, ...]
    other_income: tuple[float, ...]
    charges: tuple[float, ...]
    spending_target: tuple[float, ...]
    contributions: tuple[float, ...]
    retired: tuple[bool, ...]
    consumption_scale: float


@dataclass(frozen=True)
class ComparisonResult:
    strategies: tuple[StrategyMetrics, ...]
    n_paths: int
    seed: int
    seconds: float
    converged: bool  # adaptive target reached (always True without a target)
    target_standard_error: float | None
    optimum_available: bool
    optimum_reason: str  # why not, when not available
    optimum_value_ce: float | None  # CE of the DP value function itself
    # Each strategy against the reference: the optimum (exact) when run, else
    # dp_simplified (a lower bound on what is achievable) when run, else the first one.
    paired: tuple[PairedDifference, ...]
    schedule: ScheduleSummary
    skipped: dict[str, str]  # strategy name -> why it was not run

    def by_name(self, name: str) -> StrategyMetrics:
        for s in self.strategies:
            if s.name == name:
                return s
        raise KeyError(name)


def _check(household: Household, settings: SimulationSettings, n_strategies: int) -> None:
    if settings.paths <= 0:
        raise InvalidArgument.field("settings.paths", "must be > 0")
    if settings.paths > MAX_PATHS or settings.max_paths > MAX_PATHS:
        raise ResourceExhausted(f"at most {MAX_PATHS:,} paths per run", reason="TOO_LARGE")
    if settings.batch_paths <= 0:
        raise InvalidArgument.field("settings.batch_paths", "must be > 0")
    if household.horizon_years > MAX_HORIZON:
        raise InvalidArgument.field(
            "household.adults", f"the horizon must be at most {MAX_HORIZON} years"
        )
    if n_strategies == 0:
        raise InvalidArgument.field("strategies", "at least one strategy is needed")
    if n_strategies > MAX_STRATEGIES:
        raise ResourceExhausted(f"at most {MAX_STRATEGIES} strategies per run", reason="TOO_LARGE")
    cap = max(settings.paths, settings.max_paths if settings.target_standard_error else 0)
    if cap * n_strategies > MAX_PATH_STRATEGIES:
        raise ResourceExhausted(
            f"paths x strategies must be at most {MAX_PATH_STRATEGIES:,}"
            f" (got {cap * n_strategies:,})",
            reason="TOO_LARGE",
        )
    if settings.target_metric not in ("ce", "success"):
        raise InvalidArgument.field("settings.target_metric", "must be 'ce' or 'success'")
    if settings.target_standard_error is not None and not settings.target_standard_error > 0:
        raise InvalidArgument.field("settings.target_standard_error", "must be > 0")
    for i, p in enumerate(settings.percentiles):
        if not 0.0 < p < 100.0:
            raise InvalidArgument.field(f"settings.percentiles[{i}]", "must be in (0, 100)")


def objective_for(schedule: Schedule) -> Objective:
    return Objective.for_schedule(schedule)


def schedule_summary(schedule: Schedule) -> ScheduleSummary:
    horizon = schedule.horizon
    deflate = 1.0 / schedule.expected_price_index()

    def tup(x: np.ndarray) -> tuple[float, ...]:  # type: ignore[type-arg]
        return tuple(float(v) for v in x[:horizon])

    return ScheduleSummary(
        ages=tuple(int(a) for a in schedule.household_age[:horizon]),
        salary=tup(schedule.salary),
        pensions=tup(schedule.pension_real + schedule.pension_nominal * deflate),
        other_income=tup(schedule.other_income_real + schedule.other_income_nominal * deflate),
        charges=tup(schedule.charges_real + schedule.charges_nominal * deflate),
        spending_target=tup(schedule.spending_target),
        contributions=tup(schedule.contributions),
        retired=tuple(bool(r) for r in schedule.retired[:horizon]),
        consumption_scale=schedule.consumption_scale,
    )


def _resolve(
    household: Household, strategies: Sequence[Strategy | str]
) -> tuple[list[Strategy], dict[str, str], tuple[bool, str, float | None]]:
    from .optimum import solve_optimum

    resolved: list[Strategy] = []
    skipped: dict[str, str] = {}
    ok, reason = optimum_applies(household)
    value: float | None = None
    for s in strategies:
        if isinstance(s, str):
            if s == "optimum" and not ok:
                skipped[s] = reason
                continue
            if s == "dp_simplified":
                simplified_ok, simplified_reason = simplified_applies(household)
                if not simplified_ok:
                    skipped[s] = simplified_reason
                    continue
            resolved.append(make_strategy(s, household))
        else:
            resolved.append(s)
    names = [s.name for s in resolved]
    if len(set(names)) != len(names):
        raise InvalidArgument.field("strategies", "strategy names must be distinct")
    if ok and "optimum" in names:
        value = solve_optimum(household).certainty_equivalent
    return resolved, skipped, (ok, reason, value)


def _run_batch(
    schedule: Schedule,
    strategies: Sequence[Strategy],
    accumulators: Sequence[MetricsAccumulator],
    settings: SimulationSettings,
    start: int,
    n: int,
) -> None:
    scenarios = Scenarios(schedule.market, settings.seed, start, n)
    # Deaths beside the market: the same paths, seed and block layout, their own streams.
    deaths = None
    if schedule.lives is not None:
        deaths = draw_death_years(schedule.lives, settings.seed, start, n)
    states = [
        initial_state(
            schedule,
            n,
            timing=settings.timing,
            death_year=deaths,
            turbulent=scenarios.first_turbulent,
        )
        for _ in strategies
    ]
    for acc in accumulators:
        acc.start_batch(n)
    for t in range(schedule.horizon):
        if settings.should_stop is not None and settings.should_stop():
            raise Cancelled("the simulation was cancelled")
        returns = scenarios.year(t)
        retired = bool(schedule.retired[t])
        for k, strategy in enumerate(strategies):
            began = time.perf_counter()
            states[k], outcome = step(states[k], strategy.decide(states[k]), returns)
            accumulators[k].add_year(outcome, retired)
            accumulators[k].seconds += time.perf_counter() - began
    for acc, state in zip(accumulators, states, strict=True):
        acc.end_batch(state)


def _worst_se(accumulators: Sequence[MetricsAccumulator], metric: str) -> float:
    ses = [
        (a.ce_estimate() if metric == "ce" else a.success_estimate()).standard_error
        for a in accumulators
    ]
    return max((s if math.isfinite(s) else math.inf) for s in ses)


def _baseline(names: Sequence[str]) -> int:
    """The strategy the others are paired against: the reference where one ran (the exact
    optimum, else the simplified DP), otherwise the first strategy asked for."""
    for reference in ("optimum", "dp_simplified"):
        if reference in names:
            return list(names).index(reference)
    return 0


def _cache_keys(
    household: Household,
    resolved: Sequence[Strategy],
    named: set[str],
    settings: SimulationSettings,
    batch: int,
) -> dict[int, str]:
    """The cache key of each strategy given by its built-in name, by its index."""
    digest = household_digest(household)
    return {
        k: result_key(
            digest,
            s.name,
            seed=settings.seed,
            paths=settings.paths,
            batch_paths=batch,
            timing=settings.timing,
            percentiles=settings.percentiles,
        )
        for k, s in enumerate(resolved)
        if s.name in named
    }


def _get(cache: StrategyResults | None, key: str) -> StrategyMetrics | None:
    return None if cache is None else cache.get(key)


def _paired(
    results: Sequence[StrategyMetrics], objective: Objective, baseline: int
) -> tuple[PairedDifference, ...]:
    """Each strategy against the baseline; delta-method SEs of paired linearised utilities.

    The derivatives dCE/dE[U] are carried as logs: at the bounds (gamma 20, consumption
    far above the scale) each overflows a float while their products with the
    utilities, and the SEs, stay modest.
    """
    base = results[baseline]
    ub = base.path_utilities
    assert ub is not None
    ce_b = objective.certainty_equivalent(float(ub.mean()))
    log_kb = objective.log_ce_derivative(ce_b)
    out = []
    for k, acc in enumerate(results):
        if k == baseline:
            continue
        ua = acc.path_utilities
        assert ua is not None
        n = int(ua.shape[0])
        ce_a = objective.certainty_equivalent(float(ua.mean()))
        log_ka = objective.log_ce_derivative(ce_a)
        diff = Estimate(ce_a - ce_b, _linear_se(log_ka, ua, log_kb, ub, 1.0), n)
        ratio = ce_a / ce_b if ce_b > 0 else math.nan
        ratio_se = _linear_se(log_ka, ua, log_kb, ub, ratio) / ce_b if ce_b > 0 else math.nan
        out.append(PairedDifference(acc.name, base.name, diff, Estimate(ratio, ratio_se, n)))
    return tuple(out)


def _linear_se(log_ka: float, ua: FloatArray, log_kb: float, ub: FloatArray, c: float) -> float:
    """SE of the mean of ka ua - c kb ub, both factors scaled by the larger, then restored."""
    top = max(log_ka, log_kb)
    if not math.isfinite(top) or not math.isfinite(c):
        return math.nan
    se = _standard_error(math.exp(log_ka - top) * ua - c * math.exp(log_kb - top) * ub)
    return exp_or_inf(top + math.log(se)) if se > 0 else se


def _standard_error(x: FloatArray) -> float:
    """Standard error of a mean; NaN (not a warning) when one path cannot give one."""
    n = int(x.shape[0])
    return float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan


def simulate(
    household: Household,
    strategies: Sequence[Strategy | str],
    settings: SimulationSettings = SimulationSettings(),
    *,
    cache: StrategyResults | None = None,
) -> ComparisonResult:
    """Simulate ``strategies`` (instances or built-in names) on the same scenarios.

    ``cache``: built-in strategies (given by name) whose result on these lives it holds
    are not simulated again, and those simulated are kept there (``result_cache``;
    never in adaptive mode). The answer is the same with or without it."""
    began = time.perf_counter()
    _check(household, settings, len(strategies))
    schedule = build_schedule(household)
    resolved, skipped, (opt_ok, opt_reason, opt_value) = _resolve(household, strategies)
    if not resolved:
        raise InvalidArgument.field("strategies", f"nothing to run: {skipped}")
    objective = objective_for(schedule)
    ages = [int(a) for a in schedule.household_age]
    offered = schedule.annuities is not None
    batch = max(BLOCK_PATHS, (settings.batch_paths // BLOCK_PATHS) * BLOCK_PATHS)
    target = settings.target_standard_error
    if target is not None:
        cache = None  # how many lives run depends on every strategy: not cacheable
    named = {s for s in strategies if isinstance(s, str)}
    keys = _cache_keys(household, resolved, named, settings, batch) if cache is not None else {}
    cached = {k: found for k, key in keys.items() if (found := _get(cache, key)) is not None}
    running = [s for k, s in enumerate(resolved) if k not in cached]
    accumulators = [MetricsAccumulator(s.name, objective, ages, annuities=offered) for s in running]
    cap = max(settings.paths, settings.max_paths) if target is not None else settings.paths
    done = 0 if running else settings.paths
    converged = target is None
    while done < cap:
        if (
            target is not None
            and done >= settings.paths
            and _worst_se(accumulators, settings.target_metric) <= target
        ):
            converged = True
            break
        # The first ``paths`` are run before the first convergence check, then batches.
        limit = settings.paths if done < settings.paths else cap
        n = min(batch, limit - done)
        _run_batch(schedule, running, accumulators, settings, done, n)
        done += n
    if target is not None and not converged:
        converged = _worst_se(accumulators, settings.target_metric) <= target
    names = [s.name for s in resolved]
    baseline = _baseline(names)
    fresh = iter(
        acc.result(settings.percentiles, int(schedule.retired.sum()), keep_paths=True)
        for acc in accumulators
    )
    full: list[StrategyMetrics] = []
    for k in range(len(resolved)):
        metrics = cached[k] if k in cached else next(fresh)
        if cache is not None and k in keys and k not in cached:
            cache.put(keys[k], metrics)
        full.append(metrics)
    paired = _paired(full, objective, baseline)
    results = tuple(
        m if settings.keep_path_utilities else replace(m, path_utilities=None) for m in full
    )
    return ComparisonResult(
        strategies=results,
        n_paths=done,
        seed=settings.seed,
        seconds=time.perf_counter() - began,
        converged=converged,
        target_standard_error=target,
        optimum_available=opt_ok,
        optimum_reason=opt_reason,
        optimum_value_ce=opt_value,
        paired=paired,
        schedule=schedule_summary(schedule),
        skipped=skipped,
    )
