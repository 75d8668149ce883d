"""The baselines' results cache: a cached result equals a fresh one, and anything that
changes a result is in the key (so a cache can never change an answer)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from rl_support import mortal_couple, small_household

from glidepath.engine.result_cache import StrategyResults
from glidepath.engine.run import ComparisonResult, SimulationSettings, simulate
from glidepath.engine.state import Decision, YearState
from glidepath.household.model import Household
from glidepath.rl.gate import other_strategies

SETTINGS = SimulationSettings(paths=1024, seed=5, keep_path_utilities=True)


class HalfStocks:
    """A strategy given as an instance (like a trained policy): never cached."""

    name = "half_stocks"

    def __init__(self) -> None:
        self.calls = 0

    def decide(self, state: YearState) -> Decision:
        self.calls += 1
        n = state.n_paths
        return Decision(np.full(n, 0.5), np.full(n, 30_000.0), None)


def same(a: ComparisonResult, b: ComparisonResult) -> None:
    """Every figure of ``a`` equals ``b``'s (the time each strategy took aside)."""
    assert a.n_paths == b.n_paths and a.paired == b.paired
    for x, y in zip(a.strategies, b.strategies, strict=True):
        assert x.name == y.name
        if x.path_utilities is not None or y.path_utilities is not None:
            assert np.array_equal(x.path_utilities, y.path_utilities)  # type: ignore[arg-type]
        assert replace(x, seconds=0.0, path_utilities=None) == replace(
            y, seconds=0.0, path_utilities=None
        )


@pytest.mark.parametrize("household", [small_household(), mortal_couple()])
def test_cached_baselines_equal_fresh_ones(household: Household) -> None:
    names = list(other_strategies(household))
    fresh = simulate(household, [HalfStocks(), *names], SETTINGS)
    cache = StrategyResults()
    first = simulate(household, [HalfStocks(), *names], SETTINGS, cache=cache)
    assert (cache.hits, cache.misses, len(cache)) == (0, len(names), len(names))
    candidate = HalfStocks()
    again = simulate(household, [candidate, *names], SETTINGS, cache=cache)
    assert cache.hits == len(names)  # no baseline was simulated again
    assert candidate.calls == household.horizon_years  # the instance always runs
    same(fresh, first)
    same(fresh, again)


def test_only_the_candidate_runs_and_summaries_drop_the_paths() -> None:
    household = small_household()
    cache = StrategyResults()
    simulate(household, ["merton", "vpw"], SETTINGS, cache=cache)
    plain = replace(SETTINGS, keep_path_utilities=False)
    served = simulate(household, ["merton", "vpw"], plain, cache=cache)
    assert cache.hits == 2
    assert all(m.path_utilities is None for m in served.strategies)
    same(simulate(household, ["merton", "vpw"], plain), served)


@pytest.mark.parametrize(
    "change",
    [
        {"seed": 6},
        {"paths": 2048},
        {"batch_paths": 1024, "paths": 2048},
        {"percentiles": (10.0, 50.0, 90.0)},
    ],
)
def test_other_lives_or_reports_are_other_keys(change: dict[str, object]) -> None:
    household = small_household()
    cache = StrategyResults()
    simulate(household, ["merton"], SETTINGS, cache=cache)
    other = replace(SETTINGS, **change)  # type: ignore[arg-type]
    served = simulate(household, ["merton"], other, cache=cache)
    assert cache.hits == 0
    same(simulate(household, ["merton"], other), served)


def test_another_household_is_another_key_even_within_one_rounding() -> None:
    """The key is the exact household: one cent more is simulated, not served."""
    household = small_household()
    cache = StrategyResults()
    simulate(household, ["merton"], SETTINGS, cache=cache)
    account = household.accounts[0]
    richer = replace(household, accounts=(replace(account, balance=account.balance + 0.01),))
    served = simulate(richer, ["merton"], SETTINGS, cache=cache)
    assert cache.hits == 0
    same(simulate(richer, ["merton"], SETTINGS), served)


def test_adaptive_runs_are_never_cached() -> None:
    """How many lives an adaptive run takes depends on every strategy of it."""
    household = small_household()
    cache = StrategyResults()
    adaptive = replace(SETTINGS, target_standard_error=1.0, max_paths=4096, batch_paths=1024)
    simulate(household, ["merton", HalfStocks()], adaptive, cache=cache)
    simulate(household, ["merton", HalfStocks()], adaptive, cache=cache)
    assert (cache.hits, cache.misses, len(cache)) == (0, 0, 0)


def test_the_cache_is_bounded_by_the_lives_it_holds() -> None:
    household = small_household()
    cache = StrategyResults(max_paths=2048)
    simulate(household, ["merton", "vpw", "glide_path"], SETTINGS, cache=cache)
    assert len(cache) == 2  # 3 x 1,024 lives: the least recently used went
    simulate(household, ["glide_path"], SETTINGS, cache=cache)
    assert cache.hits == 1


def test_a_kept_result_cannot_be_changed_by_a_caller() -> None:
    cache = StrategyResults()
    simulate(small_household(), ["merton"], SETTINGS, cache=cache)
    served = simulate(small_household(), ["merton"], SETTINGS, cache=cache)
    utilities = served.strategies[0].path_utilities
    assert utilities is not None
    with pytest.raises(ValueError):
        utilities += 1.0
