"""simulate(): reproducibility, common random numbers, adaptive mode, cancellation, limits."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pytest
from engine_support import example_household, retiree

from glidepath.engine import FlowTiming, SimulationSettings, simulate
from glidepath.engine.market import BLOCK_PATHS
from glidepath.engine.rollout import rollout
from glidepath.engine.run import MAX_HORIZON, MAX_PATHS
from glidepath.engine.state import Decision, YearState
from glidepath.engine.strategies import CLAIMING_STRATEGIES, STRATEGIES, OwnPlan
from glidepath.errors import Cancelled, InvalidArgument, ResourceExhausted
from glidepath.household.model import Adult, ReturnModel


def utilities(result: object, name: str) -> np.ndarray:  # type: ignore[type-arg]
    from glidepath.engine.run import ComparisonResult

    assert isinstance(result, ComparisonResult)
    u = result.by_name(name).path_utilities
    assert u is not None
    return u


def test_same_seed_same_results_and_batch_split_does_not_matter() -> None:
    h = example_household()
    names = ["own_plan", "merton", "guardrails"]
    a = simulate(h, names, SimulationSettings(paths=5000, seed=9, keep_path_utilities=True))
    b = simulate(h, names, SimulationSettings(paths=5000, seed=9, keep_path_utilities=True))
    c = simulate(
        h,
        names,
        SimulationSettings(paths=5000, seed=9, batch_paths=BLOCK_PATHS, keep_path_utilities=True),
    )
    d = simulate(h, names, SimulationSettings(paths=5000, seed=10, keep_path_utilities=True))
    for name in names:
        assert np.array_equal(utilities(a, name), utilities(b, name))
        assert np.array_equal(utilities(a, name), utilities(c, name))
        assert not np.array_equal(utilities(a, name), utilities(d, name))
        assert a.by_name(name).certainty_equivalent == c.by_name(name).certainty_equivalent
        assert a.by_name(name).wealth.values == c.by_name(name).wealth.values


@dataclass(frozen=True)
class Renamed:
    """Another strategy object deciding exactly like ``inner``."""

    inner: OwnPlan
    name: str

    def decide(self, state: YearState) -> Decision:
        return self.inner.decide(state)


def test_every_strategy_meets_the_same_scenarios() -> None:
    h = example_household()
    plan = OwnPlan(0.6)
    settings = SimulationSettings(paths=3000, seed=1, keep_path_utilities=True)
    together = simulate(h, [plan, Renamed(plan, "twin"), "vpw", "glide_path"], settings)
    # Two identical deciders side by side see identical markets, path by path...
    assert np.array_equal(utilities(together, "own_plan"), utilities(together, "twin"))
    # ...and a strategy's paths do not depend on which others run beside it.
    alone = simulate(h, ["vpw"], settings)
    assert np.array_equal(utilities(together, "vpw"), utilities(alone, "vpw"))
    # Paired differences of the twins are exactly zero.
    twin = next(p for p in together.paired if p.strategy == "twin")
    assert twin.difference.value == 0.0 and twin.difference.standard_error == 0.0


def test_all_builtin_strategies_run_and_report_every_metric() -> None:
    h = example_household()
    percentiles = (10.0, 50.0, 90.0)
    # Within the per-run limit: the claiming baselines, Merton's rule on a household
    # without a window, run in test_engine_claiming.
    names = [n for n in STRATEGIES if n not in CLAIMING_STRATEGIES]
    result = simulate(h, names, SimulationSettings(paths=2048, percentiles=percentiles))
    # dp_simplified is for a regime-switching market only: skipped here, with the reason.
    assert [s.name for s in result.strategies] == [n for n in names if n != "dp_simplified"]
    assert "regime-switching" in result.skipped["dp_simplified"]
    assert result.n_paths == 2048 and result.optimum_available
    for s in result.strategies:
        assert s.n_paths == 2048
        assert math.isfinite(s.certainty_equivalent.value) and s.certainty_equivalent.value > 0
        assert s.certainty_equivalent.standard_error > 0
        assert 0 <= s.success_probability.value <= 1
        assert s.goal_probability is not None
        assert s.wealth.percentiles == percentiles
        assert len(s.wealth.ages) == h.horizon_years + 1
        assert len(s.consumption.ages) == h.horizon_years
        for row in s.wealth.values:
            assert len(row) == h.horizon_years + 1
        low, mid, high = s.consumption.values
        assert all(a <= b <= c for a, b, c in zip(low, mid, high, strict=True))
        assert set(s.terminal.percentiles) == set(percentiles)
        assert s.terminal.mean_worst.value <= s.terminal.percentiles[10.0].value
        assert s.terminal.percentiles[50.0] == s.terminal.median
        assert s.shortfall.mean_total.value >= 0
    assert len(result.schedule.ages) == h.horizon_years
    assert {p.strategy for p in result.paired} == set(names) - {"optimum", "dp_simplified"}


def test_the_paired_baseline_is_the_reference_that_ran() -> None:
    """The exact optimum when it runs, else dp_simplified (regimes), else the first one:
    a share of a reference is always paired against that reference."""
    h = retiree(1_000_000.0, 30, 3.0)
    settings = SimulationSettings(paths=1024, seed=2)
    exact = simulate(h, ["merton", "vpw", "optimum"], settings)
    assert {p.baseline for p in exact.paired} == {"optimum"}
    regimes = replace(h, market=replace(h.market, return_model=ReturnModel.REGIME_SWITCHING))
    simplified = simulate(regimes, ["merton", "dp_simplified", "vpw"], settings)
    assert {p.baseline for p in simplified.paired} == {"dp_simplified"}
    assert {p.strategy for p in simplified.paired} == {"merton", "vpw"}
    plain = simulate(regimes, ["vpw", "merton"], settings)
    assert {p.baseline for p in plain.paired} == {"vpw"}


def test_adaptive_mode_reaches_the_target_and_reports_paths() -> None:
    h = retiree(1_000_000.0, 30, 3.0)
    first = simulate(h, ["merton"], SimulationSettings(paths=2048, seed=3))
    se = first.by_name("merton").certainty_equivalent.standard_error
    target = se / 2.0  # needs about 4x the paths
    settings = SimulationSettings(
        paths=2048, seed=3, target_standard_error=target, max_paths=200_000, batch_paths=2048
    )
    result = simulate(h, ["merton"], settings)
    assert result.converged
    reached = result.by_name("merton").certainty_equivalent.standard_error
    assert reached <= target
    assert 4 * 2048 <= result.n_paths <= 8 * 2048
    assert result.by_name("merton").n_paths == result.n_paths


def test_adaptive_mode_stops_at_the_cap_and_says_so() -> None:
    h = retiree(1_000_000.0, 30, 3.0)
    settings = SimulationSettings(
        paths=1024,
        seed=3,
        target_standard_error=0.01,
        target_metric="success",
        max_paths=1024,
        batch_paths=1024,
    )
    # No spending target: success is certain, its SE 0: reached at once.
    assert simulate(h, ["merton"], settings).converged
    settings = replace(settings, target_metric="ce", target_standard_error=1e-6, max_paths=4096)
    result = simulate(h, ["merton"], settings)
    assert not result.converged and result.n_paths == 4096


def test_cancellation_stops_the_run() -> None:
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) > 5

    with pytest.raises(Cancelled):
        simulate(
            example_household(),
            ["own_plan"],
            SimulationSettings(paths=1000, should_stop=should_stop),
        )
    assert len(calls) == 6


def test_limits_are_refused_before_any_work() -> None:
    h = example_household()
    with pytest.raises(ResourceExhausted):
        simulate(h, ["own_plan"], SimulationSettings(paths=MAX_PATHS + 1))
    with pytest.raises(ResourceExhausted):
        simulate(h, ["own_plan"] * 1, SimulationSettings(paths=1000, max_paths=MAX_PATHS * 10))
    with pytest.raises(ResourceExhausted):
        simulate(h, list(STRATEGIES), SimulationSettings(paths=MAX_PATHS))
    old = replace(h, adults=(Adult(20, 65, 20 + MAX_HORIZON + 1),))
    with pytest.raises(InvalidArgument):
        simulate(old, ["own_plan"], SimulationSettings(paths=100))
    with pytest.raises(InvalidArgument):
        simulate(h, ["no_such_rule"], SimulationSettings(paths=100))
    with pytest.raises(InvalidArgument):
        simulate(h, ["own_plan"], SimulationSettings(paths=0))
    with pytest.raises(InvalidArgument):
        simulate(h, ["own_plan"], SimulationSettings(paths=10, percentiles=(50.0, 101.0)))


def test_start_of_year_and_monthly_timing_differ() -> None:
    h = example_household()
    monthly = simulate(h, ["own_plan"], SimulationSettings(paths=1024))
    start = simulate(
        h, ["own_plan"], SimulationSettings(paths=1024, timing=FlowTiming.START_OF_YEAR)
    )
    a = monthly.by_name("own_plan").terminal.mean.value
    b = start.by_name("own_plan").terminal.mean.value
    assert a != b


def test_rollout_is_the_same_life_as_simulate() -> None:
    h = example_household()
    settings = SimulationSettings(paths=1500, seed=12, keep_path_utilities=True)
    summary = simulate(h, ["guardrails"], settings)
    paths = rollout(h, "guardrails", 1500, seed=12)
    assert np.allclose(paths.utility, utilities(summary, "guardrails"), rtol=1e-12, atol=0)
    assert np.allclose(paths.wealth.mean(axis=1), summary.by_name("guardrails").wealth.means)
    later = rollout(h, "guardrails", 500, seed=12, first_path=1000)
    assert np.array_equal(later.wealth, paths.wealth[:, 1000:])
    with pytest.raises(ResourceExhausted):
        rollout(h, "guardrails", 1_000_000)
