"""The policy sees the market regime only as a household could (observation 18): the
true regime where the market says it is observable, the filter's probability where it
is hidden, nothing without regimes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from rl_support import small_household

from glidepath.household.model import Household, RegimeSwitching, ReturnModel
from glidepath.rl.actions import ACTION_DIM
from glidepath.rl.lives import Lives

REGIME = 18


def with_regimes(household: Household, observable: bool) -> Household:
    regimes = RegimeSwitching(calm_to_turbulent=0.2, turbulent_to_calm=0.4, observable=observable)
    market = replace(household.market, return_model=ReturnModel.REGIME_SWITCHING, regimes=regimes)
    return replace(household, market=market)


def seen(household: Household, n: int = 256, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Every year's regime feature and the belief on the state it was read from."""
    lives = Lives(household, n)
    observations = [lives.reset(seed)]
    beliefs = [lives.state.regime_belief]
    for _ in range(12):
        step = lives.step(np.zeros((n, ACTION_DIM)))
        if step.done:
            break
        observations.append(step.observation)
        beliefs.append(lives.state.regime_belief)
    features = np.stack([o[:, REGIME] for o in observations])
    if beliefs[0] is None:
        return features, np.zeros_like(features)
    return features, np.stack([np.asarray(b) for b in beliefs])


def test_without_regimes_the_feature_is_zero() -> None:
    features, _ = seen(small_household())
    np.testing.assert_array_equal(features, 0.0)


def test_an_observable_regime_is_seen_as_it_is() -> None:
    features, beliefs = seen(with_regimes(small_household(), observable=True))
    np.testing.assert_allclose(features, beliefs, atol=1e-6)
    assert set(np.unique(features)) == {0.0, 1.0}
    # Turbulent years come at about the stationary share 0.2 / (0.2 + 0.4).
    assert abs(features.mean() - 1 / 3) < 0.05


def test_a_hidden_regime_is_seen_as_the_filters_probability() -> None:
    features, beliefs = seen(with_regimes(small_household(), observable=False))
    np.testing.assert_allclose(features, beliefs, atol=1e-6)
    np.testing.assert_allclose(features[0], 1 / 3, atol=1e-6)  # no returns seen yet
    assert features.min() > 0.0 and features.max() < 1.0
    assert features[1:].std() > 0.05  # the returns move it
