"""Household features and the near-match distance (glidepath.rl.features)."""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import replace

import pytest
from household_support import COUPLE_JSON, EXAMPLE_JSON, RETIREE_JSON

from glidepath.household.convert import household_from_json
from glidepath.household.model import Household
from glidepath.rl.features import (
    FEATURES_LENGTH,
    NEAR_MATCH_THRESHOLD,
    distance,
    household_features,
)


def _example() -> Household:
    return household_from_json(EXAMPLE_JSON.read_text())


def _birthday_later(h: Household) -> Household:
    first = h.adults[0]
    return replace(h, adults=(replace(first, current_age=first.current_age + 1), *h.adults[1:]))


def test_vector_is_finite_and_of_the_documented_length() -> None:
    for path in (EXAMPLE_JSON, RETIREE_JSON, COUPLE_JSON):
        features = household_features(household_from_json(path.read_text()))
        assert len(features) == FEATURES_LENGTH
        assert all(math.isfinite(x) for x in features)


def test_small_changes_stay_near() -> None:
    h = _example()
    first = h.adults[0]
    raised = replace(h, adults=(replace(first, net_income=first.net_income + 100),))
    for other in (raised, _birthday_later(h)):
        d = distance(household_features(h), household_features(other))
        assert 0 < d <= NEAR_MATCH_THRESHOLD


def test_clearly_different_households_are_not_near() -> None:
    h = _example()
    first = h.adults[0]
    older = replace(h, adults=(replace(first, current_age=first.current_age + 10),))
    richer = replace(h, accounts=tuple(replace(a, balance=2 * a.balance) for a in h.accounts))
    bolder = replace(h, risk_aversion=2 * h.risk_aversion)
    for other in (older, richer, bolder):
        assert distance(household_features(h), household_features(other)) > NEAR_MATCH_THRESHOLD


def test_scale_free_and_symmetric() -> None:
    h = _example()
    first = h.adults[0]
    doubled = replace(
        h,
        adults=(replace(first, net_income=2 * first.net_income),),
        accounts=tuple(replace(a, balance=2 * a.balance) for a in h.accounts),
        incomes=tuple(replace(i, amount=2 * i.amount) for i in h.incomes),
        goals=replace(
            h.goals,
            retirement_spending=2 * h.goals.retirement_spending,
            capital_goal=2 * h.goals.capital_goal,
        ),
    )
    assert distance(household_features(h), household_features(doubled)) == pytest.approx(0.0)
    a, b = household_features(h), household_features(_birthday_later(h))
    assert distance(a, b) == pytest.approx(distance(b, a))


def test_every_feature_moves_the_distance() -> None:
    base = household_features(_example())
    for i in range(FEATURES_LENGTH):
        moved = list(base)
        moved[i] += 0.01
        assert distance(base, moved) > 0


def test_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError):
        distance((0.0,), household_features(_example()))


def test_module_imports_neither_torch_nor_sb3() -> None:
    code = (
        "import sys, glidepath.rl.features;"
        "assert 'torch' not in sys.modules and 'stable_baselines3' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
