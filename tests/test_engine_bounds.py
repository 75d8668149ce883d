"""Households at the corners of validation never crash the engine (property-based).

Every number of a household drawn by ``household_support.bound_households`` sits at or
next to a bound that validation documents (risk aversion 0.1 and 20, returns and
inflation at -50 % and +100 %, volatilities 0 and 200 %, 100-year horizons, amounts of
1e12, incomes growing 50 % a year), or at a point where a formula changes form (risk
aversion 1, a volatility of 0). Each must simulate under every strategy, solve its
optimum where one exists, and live through the RL environment, with figures that stay
numbers: probabilities in [0, 1], wealth finite and >= 0. Powers that overflow at these
corners (``b ** n`` in the Merton rule, ``c ** -gamma`` in the DP) are computed through
logs (``glidepath.engine.logmath``).
"""

from __future__ import annotations

import math

import numpy as np
from household_support import bound_households
from hypothesis import HealthCheck, given, settings

from glidepath.engine.optimum import optimum_available, simplified_available, solve
from glidepath.engine.run import SimulationSettings, simulate
from glidepath.engine.strategies import CLAIMING_STRATEGIES, STRATEGIES, has_claiming
from glidepath.household.model import Household
from glidepath.household.validation import validate
from glidepath.rl.lives import Lives

BOUNDS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PATHS = 64


def _probability(value: float) -> bool:
    return 0.0 <= value <= 1.0


@BOUNDS
@given(bound_households())
def test_every_strategy_simulates_a_household_at_the_bounds(household: Household) -> None:
    validate(household)
    applies = {"optimum": optimum_available, "dp_simplified": simplified_available}
    names = [n for n in STRATEGIES if n not in applies or applies[n](household)[0]]
    if not has_claiming(household):  # Merton's rule there, and the per-run limit is 12
        names = [n for n in names if n not in CLAIMING_STRATEGIES]
    result = simulate(household, names, SimulationSettings(paths=PATHS, seed=1))
    assert [m.name for m in result.strategies] == names
    for metrics in result.strategies:
        assert metrics.n_paths == PATHS
        assert _probability(metrics.success_probability.value)
        assert _probability(metrics.ruin_probability.value)
        assert not math.isnan(metrics.certainty_equivalent.value), metrics.name
        assert metrics.certainty_equivalent.value > 0, metrics.name
        terminal = metrics.terminal
        assert math.isfinite(terminal.mean.value) and terminal.mean.value >= 0
        for band in metrics.wealth.values:
            assert all(math.isfinite(v) and v >= 0 for v in band)


@BOUNDS
@given(bound_households())
def test_the_optimum_solves_a_household_at_the_bounds(household: Household) -> None:
    available, _ = optimum_available(household)
    if not available:
        return
    solution = solve(household)
    assert math.isfinite(solution.certainty_equivalent) and solution.certainty_equivalent > 0
    for t in range(solution.horizon):
        assert np.all(np.isfinite(solution.cash_grids[t])) and len(solution.cash_grids[t]) >= 2
        assert np.all(np.isfinite(solution.consumption[t]))
        assert np.all((solution.shares[t] >= 0) & (solution.shares[t] <= 1))
    wealth = np.array([0.0, 1.0, 1e6, 1e12, 1e15])
    consumption, share = solution.policy(0, wealth)
    assert np.all(np.isfinite(consumption)) and np.all((share >= 0) & (share <= 1))


@BOUNDS
@given(bound_households())
def test_the_rl_environment_lives_a_household_at_the_bounds(household: Household) -> None:
    lives = Lives(household, 4)
    observation = lives.reset(market_seed=7)
    rng = np.random.default_rng(0)
    for _ in range(lives.horizon):
        assert np.all(np.isfinite(observation))
        result = lives.step(rng.uniform(-1.0, 1.0, size=(4, 2)))
        assert np.all(np.isfinite(result.reward)), result.reward
        assert np.all(np.isfinite(result.consumption)) and np.all(result.consumption >= 0)
        observation = result.observation
    assert result.done


@settings(BOUNDS, max_examples=4)
@given(bound_households())
def test_a_short_training_at_the_bounds_gives_finite_weights(household: Household) -> None:
    """PPO on a few lives of a household at the bounds: losses stay finite, so do weights."""
    import torch

    from glidepath.household.canonical import canonicalize
    from glidepath.rl.model_io import load_policy
    from glidepath.rl.training import TrainingSpec, train

    model = train(
        TrainingSpec(canonicalize(household), episodes=8, seed=3), lambda _: None, lambda: False
    )
    policy = load_policy(model.model_zip)
    assert all(bool(torch.isfinite(p).all()) for p in policy.parameters())
